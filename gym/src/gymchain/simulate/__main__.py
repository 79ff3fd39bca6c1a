from gymchain.simulate.seed import main

raise SystemExit(main())
