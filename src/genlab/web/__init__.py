"""genlab's web UI (`genlab serve`): a FastAPI app over genlab.api with a bounded job queue and a static page.

    from genlab.web import create_app
    app = create_app(runs_dir="runs", workers=1, queue=20, token=secrets.token_urlsafe(32))  # serve with uvicorn
"""

from genlab.web.app import create_app

__all__ = ["create_app"]
