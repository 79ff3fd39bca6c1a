"""Write notebooks/*.ipynb (without outputs) from the cell sources below: `python notebooks/build.py`.

The notebooks are generated so that their shared setup is written once and a review sees plain Python. Each one
runs top to bottom in "tiny" mode (toy data in the real file formats, tiny models, a few steps: what CI executes)
or in full mode (GENLAB_NOTEBOOK_FULL=1: real data from GENLAB_DATA_DIR, the presets or pretrained snapshots).
`python scripts/render_notebooks.py` executes them and writes HTML. Cells call genlab's public API only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

PARAMETERS = '''\
# Parameters. Tiny mode (default) runs in seconds on toy data; FULL = True is the real run. The render script
# (python scripts/render_notebooks.py [--tiny]) sets GENLAB_NOTEBOOK_FULL for you.
import os

FULL = os.environ.get("GENLAB_NOTEBOOK_FULL") == "1"
'''

SETUP = '''\
{IMPORTS}

ROOT = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").is_file()), Path.cwd())
if FULL:  # real data from GENLAB_DATA_DIR (the README uses ../shared/data); outputs under runs/notebooks/
    DATA_DIR = Path(os.environ.get("GENLAB_DATA_DIR") or ROOT / "data")
    WORK = ROOT / "runs" / "notebooks" / "{NAME}"
    RUNS = ROOT / "runs" / "notebooks" / "runs"  # shared: a run another notebook finished is reused, not retrained
else:  # toy data in the real file format, written to a temporary folder
    WORK = Path(tempfile.mkdtemp(prefix="genlab-{NAME}-"))
    RUNS = WORK / "runs"
    DATA_DIR = {TOY_DATA}
os.environ["GENLAB_DATA_DIR"] = str(DATA_DIR)  # every genlab call below reads its data from here
FIG = WORK / "figures"
FIG.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto without ipywidgets
print(f"mode: {'FULL' if FULL else 'tiny'} | data: {DATA_DIR} | runs and figures: {WORK}")


def show(images, name, nrow=None, scale=2):
    """Save uint8 images (N, C, H, W) as one PNG grid in FIG and display it."""
    display(Image(filename=str(gl.save_grid(images, FIG / f"{name}.png", nrow=nrow, scale=scale))))


def show_panels(panels, name, title="", max_cols=4, scale=2):
    """Titled uint8 grids (from make_grid) side by side, saved in FIG and displayed."""
    big = [(t, g.repeat(scale, 0).repeat(scale, 1)) for t, g in panels]
    display(Image(filename=str(gl.side_by_side(big, FIG / f"{name}.png", title=title, max_cols=max_cols))))


def table(rows, columns, fmt=".4g"):
    """Display a list of dicts as a Markdown table (floats formatted with `fmt`, missing values as —)."""
    def cell(v):
        return "—" if v is None else format(v, fmt) if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    display(Markdown("\\n".join(lines)))
'''

TINY_UNET = ('"model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[14]", '
             '"model.num_heads=1"')

RENDER_NOTE = ("Run it: open it in Jupyter (tiny mode by default; set `FULL = True` in the parameters cell), or "
               "render every notebook to HTML with `python scripts/render_notebooks.py` (full) / "
               "`--tiny`. Tiny mode uses toy data in the real file formats and tiny models: its numbers and "
               "pictures only show that the code runs, not what the models can do.")


def md(text: str):
    return new_markdown_cell(dedent(text).strip())


def code(text: str):
    return new_code_cell(dedent(text).strip().replace("__TINY_UNET__", TINY_UNET))


def imports(uses: set[str]) -> str:
    """The setup cell's imports: what the helpers need plus the optional ones this notebook `uses`."""
    std = ["import tempfile", "import warnings", "from pathlib import Path"]
    std += [f"import {m}" for m in ("json", "time") if m in uses]
    third = ["import matplotlib.pyplot as plt", *(["import numpy as np"] if "np" in uses else []), "import torch",
             f"from IPython.display import {'Audio, ' if 'Audio' in uses else ''}Image, Markdown, display"]
    ours = ["import genlab.api as gl"]
    return "\n".join([*sorted(std, key=lambda line: (line.startswith("from"), line)), "", *third, "", *ours])


def header(name: str, toy_data: str, uses: set[str]) -> list:
    params = new_code_cell(PARAMETERS.strip())
    params.metadata["tags"] = ["parameters"]
    setup = SETUP.replace("{IMPORTS}", imports(uses)).replace("{NAME}", name).replace("{TOY_DATA}", toy_data)
    return [params, new_code_cell(setup.strip())]


# ---------------------------------------------------------------------------------------------------- 01 images

NB01 = [
    md(f"""
    # 01 · Images: train a diffusion model on MNIST, watch it learn, measure it, reload it, sample it

    The whole job of the brief's part 1 (seed document 000) in one place: a class-conditional diffusion model is
    trained from the `mnist-diffusion-quick` preset on real MNIST; the fixed-seed sample grids of each epoch are
    shown side by side; FID, KID, Inception Score and precision/recall are measured **beside their real-vs-real
    floor**; the snapshot is saved, loaded back and sampled; the three samplers are compared (FID against the
    number of steps); and the model's noise space is interpolated.

    {RENDER_NOTE}
    """),
    *header("01_images", 'gl.write_toy_mnist(WORK / "data")  # 256 + 64 images: class k = a bar in column band k',
           {"json", "time", "np", "make_grid"}),
    code('''
    PRESET = "mnist-diffusion-quick"  # 0.66 M-parameter class-conditional U-Net, v-prediction, cosine schedule
    RUN = RUNS / PRESET
    if FULL:  # the preset as shipped: 800 steps x 64 images, ~6 minutes on a quiet 2-core CPU
        OVERRIDES = []
        N_EVAL, N_EPOCH, N_SAMPLERS, MAX_TRAIN = 2000, 500, 500, 10000
        STEPS, STEPS_LIST = 20, (5, 10, 20, 50)
    else:  # a tiny U-Net for a few steps on the toy data
        OVERRIDES = [__TINY_UNET__, "train.batch_size=16", "train.max_steps=8",
                     "train.epoch_images=64", "train.log_every=1", "sample.num_images=16", "sample.steps=4",
                     "data.download=false"]
        N_EVAL = N_EPOCH = N_SAMPLERS = 16
        MAX_TRAIN, STEPS, STEPS_LIST = None, 4, (2, 4)
    SAMPLERS = ("ddpm", "ddim", "dpmpp-2m")
    '''),
    md("""
    ## The data

    MNIST's own IDX files, read by genlab's data registry (the same loader the trainer uses). Images are stored
    as uint8 and mapped to [-1, 1] by the codec on the way into the model.
    """),
    code('''

    train_set = gl.load_dataset("mnist", "train", download=FULL)
    test_set = gl.load_dataset("mnist", "test", download=FULL)
    print(f"{len(train_set)} training and {len(test_set)} test images of shape {train_set.image_shape}")
    x, y = train_set.get_batch(np.arange(32))
    print("labels of the first 32:", y.tolist())
    show(x, "real-train", nrow=16)
    '''),
    md("""
    ## Train from the preset

    `gl.train` resolves the preset (plus `key=value` overrides), trains, and writes the run directory: the
    resolved config, one JSON line of scalars per log interval, a grid from the same seeds every epoch, per-epoch
    snapshots and the final `snapshot.safetensors`. Running the cell again does not retrain a finished run; an
    interrupted one resumes from its last training state.
    """),
    code('''
    cfg = gl.resolve_config(PRESET, OVERRIDES)
    print("model:", json.dumps(vars(cfg.model)))
    print("train:", json.dumps({k: getattr(cfg.train, k) for k in
                                ("batch_size", "lr", "max_steps", "epochs", "epoch_images", "ema_decay", "precision")}))
    t0 = time.time()
    result = gl.train(PRESET, [*OVERRIDES, f"run_dir={RUN}"], progress=FULL)
    print(f"{result.step} steps, {result.images_seen} images seen, {result.train_seconds / 60:.1f} training minutes "
          f"(this cell: {time.time() - t0:.0f} s) -> {result.snapshot}")
    '''),
    code('''
    logs = [json.loads(line) for line in (RUN / "scalars.jsonl").read_text().splitlines()]
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.2))
    ax[0].plot([r["images_seen"] for r in logs], [r["loss"] for r in logs])
    ax[0].set(xlabel="images seen", ylabel="loss (v-MSE)", title="training loss", yscale="log")
    ax[1].plot([r["step"] for r in logs], [r["images_per_s"] for r in logs])
    ax[1].set(xlabel="step", ylabel="images / s", title="throughput")
    plt.show()
    '''),
    md("""
    ## Samples per epoch, side by side

    Every epoch the trainer samples the same seeds and classes (image *i* uses seed *i*), so the grids differ only
    because the weights changed.
    """),
    code('''
    from PIL import Image as PILImage

    grids = sorted((RUN / "samples").glob("epoch-*.png"))
    panels = [(f"epoch {int(p.stem.split('-')[1])}", np.asarray(PILImage.open(p).convert("L"))) for p in grids]
    show_panels(panels, "epochs", title=f"{PRESET}: the same seeds after each epoch", max_cols=2, scale=1)
    '''),
    md("""
    ## Quality metrics, each beside its floor

    `gl.evaluate` samples `n` images and measures them against the 10k test images with genlab's MNIST feature
    network (a small classifier shipped with the package, 99.6 % test accuracy): FID and KID (distribution
    distance, lower is better), Inception Score (confident and class-balanced, higher is better), precision
    (fakes inside the real manifold) and recall (reals covered by the fakes). The **floor** is the same
    measurement for `n` random *training* images against the same test set: what a perfect generator would score
    at this sample count. FID in particular is biased upwards at small `n`, so only compare numbers at equal `n`.
    """),
    code('''
    res = gl.evaluate(RUN, n=N_EVAL, sampler="dpmpp-2m", steps=STEPS, max_train=MAX_TRAIN)
    m, floor = res["metrics"], res["metrics"]["floor"]
    table([{"metric": k, "model": m[k], "floor (real vs real)": floor[k]}
           for k in ("fid", "kid_mean", "kid_std", "is_mean", "precision", "recall", "class_kl_uniform")],
          ["metric", "model", "floor (real vs real)"])
    print(f"{m['num_fake']} samples vs {m['num_real']} test images; sampler {res['sampler']}, {res['steps']} steps, "
          f"guidance {res['guidance']} = {res['nfe']} network evaluations per image; "
          f"nearest-training-image distance ratio {m['memorisation']['median_ratio']:.2f} (about 1 = no copying)")
    print(f"reproduce: genlab evaluate {RUN} -n {N_EVAL} --sampler dpmpp-2m --steps {STEPS}")
    '''),
    md("""
    The same measurement for every epoch's snapshot (appended to the run's `metrics.jsonl`; lines already there
    are reused), i.e. the numbers behind the grids above:
    """),
    code('''
    rows = gl.evaluate_run(RUN, n=N_EPOCH, steps=STEPS, max_train=MAX_TRAIN)
    table(rows, ["epoch", "images_seen", "fid", "floor_fid", "kid_mean", "is_mean", "precision", "recall"])
    plt.figure(figsize=(5.5, 3.2))
    plt.plot([r["images_seen"] for r in rows], [r["fid"] for r in rows], marker="o", label="model")
    plt.axhline(rows[0]["floor_fid"], color="gray", linestyle="--", label="floor (real vs real)")
    plt.gca().set(xlabel="images seen", ylabel=f"FID (n = {N_EPOCH})", yscale="log", title="FID per epoch")
    plt.legend()
    plt.show()
    '''),
    md("""
    ## Save → load → sample

    The snapshot is a safetensors file whose JSON header describes the model (family, constructor arguments,
    data codec, schema and package version, git commit), so it loads without the training code and without
    unpickling anything. Copy it anywhere and load it back:
    """),
    code('''
    import shutil

    saved = Path(shutil.copy(result.snapshot, WORK / "my-mnist-diffusion.safetensors"))
    gen = gl.load(saved)
    print({k: gen.header.get(k) for k in ("family", "schema_version", "genlab_version", "git_commit", "dataset",
                                          "step", "images_seen", "weights")})
    labels = [i // 8 for i in range(80)]  # eight of each class
    images = gen.generate(80, seed=0, labels=labels, sampler="dpmpp-2m", steps=STEPS, guidance=2.0)
    show(images, "loaded-by-class", nrow=8)
    again = gen.generate(seeds=[17], labels=[labels[17]], sampler="dpmpp-2m", steps=STEPS, guidance=2.0)
    print("image 17 regenerated alone from its seed is identical:", torch.equal(again[0], images[17]))
    '''),
    md("""
    ## Samplers compared: quality against the number of steps

    DDPM's ancestral sampler, DDIM (deterministic, η = 0) and DPM-Solver++(2M) call the same network; they differ
    in how they step from noise to image. With classifier-free guidance each step costs two network evaluations.
    `gl.fid_vs_steps` measures every (sampler, steps) pair on the same seeds:
    """),
    code('''
    fvs = gl.fid_vs_steps(RUN, samplers=SAMPLERS, steps_list=STEPS_LIST, n=N_SAMPLERS, max_train=MAX_TRAIN,
                          output=WORK / "fid_vs_steps.json")
    table(fvs["rows"], ["sampler", "steps", "nfe", "fid", "floor_fid", "precision", "recall", "generate_seconds"])
    plt.figure(figsize=(5.5, 3.4))
    for sampler in SAMPLERS:
        pts = [r for r in fvs["rows"] if r["sampler"] == sampler]
        plt.plot([r["steps"] for r in pts], [r["fid"] for r in pts], marker="o", label=sampler)
    plt.axhline(fvs["floor"]["fid"], color="gray", linestyle="--", label="floor")
    plt.gca().set(xscale="log", yscale="log", xlabel="sampler steps", ylabel=f"FID (n = {N_SAMPLERS})")
    plt.legend()
    plt.show()
    '''),
    code('''
    panels = []
    for sampler in SAMPLERS:
        for steps in STEPS_LIST:
            x = gen.generate(10, seed=100, labels=list(range(10)), sampler=sampler, steps=steps, guidance=2.0)
            panels.append((f"{sampler}, {steps} steps", gl.make_grid(x, nrow=10)))
    show_panels(panels, "samplers", title="same seeds and classes", max_cols=len(STEPS_LIST))
    '''),
    md("""
    ## Latent interpolation

    A diffusion model has no encoder, but DDIM with η = 0 is a deterministic map from the initial noise x_T to
    an image, so x_T acts as a latent code. Walking the great circle (slerp) between two seeds' noises keeps the
    noise at a typical norm; each row fixes the class. The ends are exactly the two seeds' samples.
    """),
    code('''
    strips = [gl.interpolate_noise(gen, a, b, n=10, label=k, steps=STEPS, guidance=2.0)
              for a, b, k in [(0, 1, 3), (2, 3, 5), (4, 5, 8), (6, 7, 2)]]
    show(torch.cat([gen.codec.to_display(s) for s in strips]), "interpolation", nrow=10, scale=3)
    '''),
]

# ---------------------------------------------------------------------------------------------------- 02 audio

NB02 = [
    md(f"""
    # 02 · Audio: regenerate a MUSDB18 stem from its spectrogram

    Part 2 of the brief (seed document 000): take one stem of a MUSDB18 track, look at its STFT and mel
    spectrogram, regenerate it through a trained spectral autoencoder (`musdb-vocals-spectral-ae`: log-magnitude
    patches → a 128-number code per frame → magnitude), put the phase back three ways, listen, and measure it
    against the classical baselines: Griffin-Lim on the exact magnitude and the oracle (exact magnitude with the
    stem's own phase — the identity, an upper bound).

    {RENDER_NOTE} Full mode reads the MUSDB18-7 previews (`.stem.mp4`, needs ffmpeg, which
    `scripts/setup.sh` installs); tiny mode synthesises a toy multitrack (WAV) with no ffmpeg.
    """),
    *header("02_audio_musdb", 'gl.write_toy_musdb(WORK / "data", n_train=2, n_test=1, seconds=2.0)', {"Audio"}),
    code('''

    STEM, SR = "vocals", 44100
    PRESET = PRETRAINED = f"musdb-{STEM}-spectral-ae"  # the pretrained name, if this installation ships it
    if FULL:
        TRACK, OVERRIDES, GL_ITERS, N_TRACKS = "Al James - Schoolboy Facination", [], 100, 5
    else:
        TRACK, GL_ITERS, N_TRACKS = "Toy Band 2 - Song 2", 8, 1
        OVERRIDES = ["model.hidden=8", "model.num_blocks=1", "model.code_dim=8", "train.batch_size=8",
                     "train.max_steps=6", "train.epoch_images=16", "train.log_every=1", "sample.num_images=2"]
    '''),
    md("""
    ## One track, one stem

    `load_input` reads a MUSDB track by name (test subset first) and returns the stem and the mixture as float32
    (channels, samples) at 44.1 kHz.
    """),
    code('''
    wave, mixture, name = gl.load_audio_input(TRACK, STEM, str(DATA_DIR))
    print(f"{name}: {STEM} {tuple(wave.shape)} = {wave.shape[-1] / SR:.1f} s stereo; peak {wave.abs().max():.2f}")
    print("mixture:"); display(Audio(mixture.mean(0).numpy(), rate=SR))
    print(f"{STEM} (the target):"); display(Audio(wave.mean(0).numpy(), rate=SR))
    '''),
    md("""
    ## Time-frequency representations

    The STFT (Hann window, n_fft 1024, hop 256: 23 ms frames every 5.8 ms) splits the signal into magnitude and
    phase; the model works on the log-compressed magnitude. The mel spectrogram (128 bands) is a smaller,
    perceptually spaced summary — what vocoders invert. Both in dB relative to the loudest bin:
    """),
    code('''
    def db(mag):
        mag = mag.abs().clamp_min(1e-8)
        return (20 * torch.log10(mag / mag.max())).clamp(min=-80).numpy()

    stft, mel = gl.Stft(1024, 256), gl.MelSpectrogram(SR, 2048, 512, 128)
    S, M = stft(wave[0]), mel(wave[0])
    fig, ax = plt.subplots(1, 2, figsize=(12, 3.6))
    dur = wave.shape[-1] / SR
    ax[0].imshow(db(S), origin="lower", aspect="auto", extent=[0, dur, 0, SR / 2000], cmap="magma")
    ax[0].set(title=f"STFT magnitude ({S.shape[0]} bins x {S.shape[1]} frames)", xlabel="s", ylabel="kHz")
    ax[1].imshow(db(M), origin="lower", aspect="auto", extent=[0, dur, 0, M.shape[0]], cmap="magma")
    ax[1].set(title=f"mel spectrogram ({M.shape[0]} bands)", xlabel="s", ylabel="mel band")
    plt.show()
    '''),
    md("""
    ## The model: a pretrained snapshot, else trained from the preset

    `spectral-ae` is a small convolutional VAE over time: each frame's 512-bin log magnitude (per-frequency
    standardised with statistics fitted on the training stems) becomes a 128-number code and back. The snapshot
    carries its codec (STFT settings and the fitted statistics), so loading it is all inference needs.
    """),
    code('''
    source = gl.pretrained_or_train(PRETRAINED, PRESET, [*OVERRIDES, f"run_dir={RUNS / PRESET}"],
                                    progress=FULL)
    am = gl.load_audio_model(source)
    h = am.generator.header
    print({k: h.get(k) for k in ("family", "step", "images_seen", "train_seconds")})
    print("codec:", {k: v for k, v in am.codec.state().items() if k not in ("mean", "std")},
          f"+ {len(am.codec.state()['mean'])} per-frequency means and stds")
    print(f"{sum(p.numel() for p in am.model.parameters()):,} parameters")
    '''),
    md("""
    ## Regenerate the stem

    The model regenerates a *magnitude*; a waveform also needs a phase. Three strategies: Griffin-Lim (iterate
    STFT/iSTFT consistency from random phase — a true regeneration), the mixture's phase (available in
    separation-like settings), and the stem's own phase (the oracle: isolates the magnitude error).
    """),
    code('''
    estimates = {f"{PRESET}/gl{GL_ITERS}": gl.regenerate_wave(am, wave, "griffin-lim", gl_iters=GL_ITERS),
                 f"{PRESET}/mixture-phase": gl.regenerate_wave(am, wave, "mixture", mixture),
                 f"{PRESET}/oracle-phase": gl.regenerate_wave(am, wave, "oracle")}
    estimates.update(gl.baseline_estimates(wave, mixture, am.codec.stft, (GL_ITERS,), {}))
    for label, est in estimates.items():
        print(label)
        display(Audio(est.mean(0).numpy(), rate=SR))
    '''),
    md("""
    ## Measured against the baselines

    SI-SDR and SNR (dB, higher is better) compare waveforms, so they punish a wrong phase; the log-spectral
    distance (LSD, dB), spectral convergence, multi-resolution STFT and mel distances (lower is better) compare
    magnitudes only. Compare like with like: the model with Griffin-Lim against `stft/gl` (exact magnitude, same
    phase method), the model with the mixture's phase against `stft/mixture-phase`. `stft/oracle` is the
    identity: its numbers are the ceiling.
    """),
    code('''
    rows = [{"method": label, **gl.compare_audio(wave, est, SR)} for label, est in estimates.items()]
    table(rows, ["method", "si_sdr_db", "snr_db", "lsd_db", "spectral_convergence", "mr_stft", "mel_distance"],
          fmt=".3g")
    print(f"one track ({name}), {wave.shape[-1] / SR:.1f} s, channel-averaged")
    '''),
    md("""
    ## Spectrograms and their errors

    Top: the target and three regenerations in dB. Bottom: estimate minus target (dB), red where the estimate has
    too much energy, blue where it has too little.
    """),
    code('''
    show_keys = [f"{PRESET}/gl{GL_ITERS}", f"{PRESET}/mixture-phase", f"stft/gl{GL_ITERS}"]
    ref_db = db(stft(wave[0]))
    fig, ax = plt.subplots(2, 4, figsize=(16, 6), sharex=True, sharey=True)
    ext = [0, wave.shape[-1] / SR, 0, SR / 2000]
    ax[0, 0].imshow(ref_db, origin="lower", aspect="auto", extent=ext, cmap="magma", vmin=-80, vmax=0)
    ax[0, 0].set(title=f"target {STEM}", ylabel="kHz")
    ax[1, 0].axis("off")
    for j, key in enumerate(show_keys, start=1):
        est_db = db(stft(estimates[key][0]))
        ax[0, j].imshow(est_db, origin="lower", aspect="auto", extent=ext, cmap="magma", vmin=-80, vmax=0)
        ax[0, j].set(title=key)
        im = ax[1, j].imshow(est_db - ref_db, origin="lower", aspect="auto", extent=ext, cmap="coolwarm",
                             vmin=-30, vmax=30)
        ax[1, j].set(title="estimate − target (dB)", xlabel="s")
    fig.colorbar(im, ax=ax[1, 1:], shrink=0.8)
    plt.show()
    '''),
    md("""
    ## Over several tracks

    `evaluate_audio` runs every method above (plus a mel → NNLS → Griffin-Lim baseline when a vocoder is given)
    on the first test tracks and reports medians; it also writes a listening page (`index.html`).
    """),
    code('''
    ev = gl.evaluate_audio("test", [STEM], [source], n_tracks=N_TRACKS, out_dir=WORK / "audio-eval",
                           gl_iters=(GL_ITERS,), listen_tracks=1)
    display(Markdown(ev.markdown))
    print(f"listening page: {ev.html}")
    print(f"reproduce: genlab audio evaluate {source} --tracks {N_TRACKS} -o {WORK / 'audio-eval'}")
    '''),
    md("""
    ## All four stems through the universal vocoder (issue 17)

    One vocoder for drums, bass, other and vocals (`musdb-vocos`: mel → waveform, trained adversarially on all four
    stems). Each stem of the track goes to its 128-band log-mel and back to a waveform with the vocoder's **own
    phase** — no Griffin-Lim. `listening_page` then sets it beside the same mel inverted with NNLS + fast
    Griffin-Lim (the classical route from the same input) and the oracles from the true magnitude (PGHI, Griffin-Lim),
    with players, spectrograms, difference spectrograms (method − original, dB) and each clip's metrics. Full mode
    loads the shipped snapshot; tiny mode trains a toy vocoder for two steps (its sound is noise: it only shows the
    pipeline runs). The whole test set: README, "Audio (MUSDB18-7)".
    """),
    code('''
    VOCODER = "musdb-vocos"
    VOC_PRESET = VOCODER if FULL else "musdb-vocals-vocos"
    VOC_OVERRIDES = [] if FULL else ["model.dim=8", "model.hidden=16", "model.num_blocks=1", "model.disc_channels=2",
                                     "data.options.segment_samples=4096", "train.batch_size=2", "train.max_steps=2",
                                     "train.epoch_images=4", "train.log_every=1", "sample.num_images=1"]
    voc_source = gl.pretrained_or_train(VOCODER, VOC_PRESET, [*VOC_OVERRIDES, f"run_dir={RUNS / VOC_PRESET}"],
                                        progress=FULL)
    voc = gl.load_audio_model(voc_source)
    rows = []
    for stem in gl.AUDIO_STEMS:
        w, _, _ = gl.load_audio_input(TRACK, stem, str(DATA_DIR))
        regenerated = gl.vocode(voc, w)
        print(f"{stem}: original, then the vocoder's own waveform")
        display(Audio(w.mean(0).numpy(), rate=SR))
        display(Audio(regenerated.mean(0).numpy(), rate=SR))
        rows.append({"stem": stem, "method": "vocoder (own phase)", **gl.compare_audio(w, regenerated, SR)})
    table(rows, ["stem", "method", "spectral_convergence", "mr_stft", "lsd_db", "mel_distance", "si_sdr_db"],
          fmt=".3g")
    print(f"all four stems regenerated from their log-mel ({name}, channel-averaged)")
    '''),
    code('''
    page = gl.listening_page(voc_source, WORK / "listen", tracks=[TRACK], data_dir=str(DATA_DIR),
                             gl_iters=GL_ITERS)
    for png in sorted(page.parent.glob("*/*/spectrograms.png")):
        print(png.parent.name)
        display(Image(filename=str(png)))
    print(f"listening page (open in a browser): {page}")
    print(f"reproduce: genlab audio listen {voc_source} --track '{TRACK}' --gl-iters {GL_ITERS} -o {page.parent}")
    '''),
]

# ---------------------------------------------------------------------------------------------------- 03 channels

NB03 = [
    md(f"""
    # 03 · Geological channels: conv+dense vs fully convolutional VAEs, latent regularity, ES-MDA; the 128×128 diffusion model and inpainting to wells

    Seed document 001 (LTrace): binary images of meandering channels (1 = channel, 0 = background) in the
    `train_images.h5` format; a generator with a **regularized latent space**; and the comparison of a
    convolutional + dense model with a **fully convolutional** one (no dense layer anywhere, latent included).
    Then the latent space is used for what it is for in reservoir modelling: ES-MDA conditions realizations to
    well data and a flow proxy.

    {RENDER_NOTE} Without the real LTrace file, both modes write genlab's procedural look-alike in exactly its
    format (docs/channels.md describes it and its statistics).
    """),
    *header("03_channels", 'WORK / "data"', {"np"}),
    code('''
    import h5py

    MODELS = {  # label: (pretrained name, preset): the shipped 64x64 snapshots, else their quick 64x64 presets
        "conv+dense": ("channels-vae-dense", "channels-vae-dense-64"),
        "fully convolutional": ("channels-vae-fullconv", "channels-vae-fullconv-64"),
    }
    if FULL:  # 64x64 (the -64 presets' size), ~5 CPU minutes per model when trained here
        SIZE, N_FILE, N_COMPARE, N_ENS, N_ASSIM, TINY = 64, 5000, 200, 100, 4, []
    else:
        SIZE, N_FILE, N_COMPARE, N_ENS, N_ASSIM = 32, 160, 16, 12, 2
        TINY = ["model.base_channels=8", "model.max_channels=16", "model.latent_dim=8", "model.latent_channels=2",
                "train.batch_size=16", "train.max_steps=6", "train.epoch_images=48", "train.log_every=1",
                "sample.num_images=8"]
    '''),
    md("""
    ## LTrace-format data

    The LTrace file is HDF5 with one dataset `train_images` of shape (N, 128, 128, 1), uint8 in {0, 1}. If
    `train_images.h5` is in the data directory it is used; otherwise the procedural generator writes one.
    genlab streams it (never loads it whole), resizes on the fly (area average, then threshold) and holds out a
    deterministic 10 % as the test split.
    """),
    code('''
    h5 = DATA_DIR / "train_images.h5"  # the real LTrace file, if you have it
    if not h5.is_file():  # else the procedural look-alike (the data directory may be read-only: write to WORK)
        h5 = WORK / "data" / "train_images.h5"
        h5.parent.mkdir(parents=True, exist_ok=True)
        gl.write_channels_h5(h5, N_FILE, seed=0, size=128 if FULL else SIZE, progress=False)
        print(f"wrote {N_FILE} procedural images in the LTrace format to {h5}")
    with h5py.File(h5, "r") as f:
        ds = f["train_images"]
        print(f"{h5.name}: keys {list(f)}, train_images {ds.shape} {ds.dtype}, values {np.unique(ds[:50]).tolist()}")
    data = gl.load_dataset("channels", "train", file=str(h5), size=SIZE)
    x, _ = data.get_batch(np.arange(32))
    print(f"{len(data)} training images resized to {data.image_shape}; channel fraction of these 32: "
          f"{x.float().mean():.3f}")
    show(x * 255, "real-channels", nrow=16)
    DATA = ["data.dataset=channels", f"data.options={{size: {SIZE}, file: '{h5}'}}"]  # train on this file
    '''),
    md("""
    ## Two architectures, same VAE

    Both are VAEs with a Bernoulli decoder (binary cross-entropy on logits) and the KL term that pulls the
    aggregate posterior towards N(0, I) — that is what makes the latent "regularized". *conv+dense* flattens the
    last feature map into a latent **vector** through dense layers (GeoFacies_DL style); *fully convolutional*
    keeps a small spatial latent **map** and contains no `nn.Linear` at all.
    """),
    code('''

    sources, gens = {}, {}
    for label, (name, preset) in MODELS.items():
        sources[label] = gl.pretrained_or_train(name, preset, [*DATA, *TINY, f"run_dir={RUNS / preset}"],
                                                progress=FULL)
        gens[label] = gl.load(sources[label])
    rows = [{"model": label, **gl.model_summary(g)} for label, g in gens.items()]
    table(rows, ["model", "architecture", "latent_shape", "params_total", "params_generator", "has_linear",
                 "train_steps", "train_seconds"])
    for label, g in gens.items():
        kinds = sorted({type(m).__name__ for m in g.model.modules() if not list(m.children())})
        print(f"{label}: layer types {kinds}")
    '''),
    md("""
    ## Realism: every facies metric beside the real-vs-real floor

    `compare_models` draws prior samples from each model (thresholded at p = 0.5) and compares them with
    held-out real images: channel fraction, two-point statistics (indicator variograms) and connectivity along
    both axes, 4×4 pattern histograms (Jensen-Shannon) and 3×3 pattern MMD, distance to the nearest training image
    (0 would mean copies), reconstruction of held-out images, and the latent's regularity. The floor column
    compares two halves of the real images: what a perfect generator would score.
    """),
    code('''
    summary = gl.compare_models([sources[k] for k in MODELS], n=N_COMPARE, out_dir=WORK / "compare")
    for r, label in zip(summary["runs"], MODELS):
        r["label"] = label
    head, rows = gl.facies_report.comparison_table(summary["runs"])
    display(Markdown(gl.facies_report.to_markdown([("table", head, rows)])))
    print(f"reproduce: genlab channels compare {' '.join(str(s) for s in sources.values())} -n {N_COMPARE}")
    '''),
    code('''
    cmp_dir = WORK / "compare"
    display(Image(filename=str(cmp_dir / "real-samples.png")))
    for r in summary["runs"]:
        print(f"{r['label']}: prior samples, then slerp interpolations between seeds")
        display(Image(filename=str(cmp_dir / r["assets"]["samples"])))
        display(Image(filename=str(cmp_dir / r["assets"]["interpolation"])))
    '''),
    code('''
    fig, ax = plt.subplots(1, 2, figsize=(12, 3.4))
    for k, curve in enumerate(("variogram_x", "connectivity_y")):
        ref = summary["runs"][0]["metrics"]["reference_curves"][curve]
        ax[k].plot(range(1, len(ref) + 1), ref, "k--", label="real (held-out)")
        for r in summary["runs"]:
            ys = r["metrics"]["fake"]["curves"][curve]
            ax[k].plot(range(1, len(ys) + 1), ys, label=r["label"])
        ax[k].set(xlabel="lag (px)", title=curve.replace("_", " "))
        ax[k].legend()
    plt.show()
    '''),
    md("""
    ## How regular is each latent?

    Per latent dimension, the KL between the posterior q(z|x) and the prior, averaged over held-out images
    (dimensions near 0 are unused: "posterior collapse"), and how far the aggregate posterior is from N(0, I)
    (Fréchet distance of a Gaussian fit; 0 = exactly the prior). A regular latent is what makes prior samples
    look like data and what ES-MDA's Gaussian update assumes.
    """),
    code('''
    fig, ax = plt.subplots(1, len(summary["runs"]), figsize=(12, 3), squeeze=False)
    for a, r in zip(ax[0], summary["runs"]):
        kl = np.sort(np.asarray(r["regularity"]["kl_per_dim"]))[::-1]
        a.bar(range(len(kl)), kl)
        a.set(title=f"{r['label']}: {r['regularity']['active_units']} active of {len(kl)}",
              xlabel="latent dimension (sorted)", ylabel="KL (nats)")
    plt.show()
    table([{"model": r["label"], **{k: r["regularity"][k] for k in ("kl_total", "active_units", "frechet_to_prior",
                                                                     "kl_gaussian_fit_to_prior")}}
           for r in summary["runs"]], ["model", "kl_total", "active_units", "frechet_to_prior",
                                       "kl_gaussian_fit_to_prior"])
    '''),
    md("""
    ## ES-MDA in the latent space

    A synthetic truth (a procedural image no model has seen), facies observed at 9 wells and a steady flow proxy
    (production rate and monitor pressures between an injector and a producer). The ensemble starts as prior
    latents z ~ N(0, I) and ES-MDA (Emerick & Reynolds 2013) updates it through g(z) = observe(decode(z)) with
    inflated error covariances α_i (Σ 1/α_i = 1). O_N is the normalised data mismatch (≈ 1 = fit to the noise
    level); a latent that stays near ‖z‖²/D ≈ 1 means the posterior realizations are still plausible images.
    """),
    code('''
    demo = gl.esmda_demo(sources["fully convolutional"], truth_seed=3, wells=9, n_ens=N_ENS, n_assim=N_ASSIM,
                      out_dir=WORK / "esmda")
    head, rows = gl.facies_report.esmda_table(demo["history"])
    display(Markdown(gl.facies_report.to_markdown([("table", head, rows)])))
    print("prior latent:", demo["prior_latent"])
    print("posterior latent:", demo["posterior_latent"])
    for key, caption in [("wells", "truth and well cells"), ("prior", "truth + prior realizations"),
                         ("posterior", "truth + posterior realizations"),
                         ("means", "truth, prior mean, posterior mean")]:
        print(caption)
        display(Image(filename=str(WORK / "esmda" / demo["assets"][key])))
    '''),
    md("""
    ## 128×128: the diffusion model, and conditioning to wells by inpainting (issue 14)

    At the LTrace size the VAEs above give branching blobs: a decoder with a pixel-independent likelihood averages
    where channels may be. `channels-diffusion-128` is a pixel-space denoising diffusion model (v-prediction, a
    3.3 M-parameter U-Net 128→8 px with attention at 8×8) trained on 20,000 procedural 128×128 images; it samples
    with DPM-Solver++ in 20 steps. docs/channels.md has its table beside the four latent models
    (`benchmarks/channels_compare.py`).

    A diffusion model has no latent code for ES-MDA to update. It conditions to wells directly, by **inpainting**:
    every pixel is generated except the well cells, which keep the truth's facies (RePaint resampling, Lugmayr et
    al. 2022). The wells are honoured by construction; the question is whether the rest still looks like channels
    and whether the model itself agrees with the wells (its own prediction before the known cells are pasted).
    """),
    code('''
    if FULL:  # the shipped snapshot (genlab.pretrained_manifest()); N128 realizations against as many real images
        N128, N_INPAINT, INPAINT, TINY_DIFF = 100, 8, {"steps": 50, "jump": 5, "resample": 5}, []
    else:  # tiny: the shipped snapshot when installed, else a tiny diffusion model trained on the toy file
        N128, N_INPAINT, INPAINT = 8, 2, {"steps": 4, "jump": 1, "resample": 1}
        TINY_DIFF = ["model.base_channels=8", "model.channel_mults=[1,2]", "model.attention_resolutions=[]",
                     "train.batch_size=8", "train.max_steps=4", "train.epoch_images=16", "train.log_every=1",
                     "sample.num_images=4", "sample.steps=4", *DATA]
    diff_src = gl.pretrained_or_train("channels-diffusion-128", "channels-diffusion-128",
                                      [*TINY_DIFF, f"run_dir={RUNS / 'channels-diffusion-128'}"], progress=FULL)
    table([{"model": "diffusion", **gl.model_summary(gl.load(diff_src))}],
          ["model", "architecture", "params_total", "train_steps", "train_seconds"])
    s128 = gl.compare_models([diff_src], n=N128, out_dir=WORK / "compare128")
    s128["runs"][0]["label"] = "diffusion"
    head, rows = gl.facies_report.comparison_table(s128["runs"])
    display(Markdown(gl.facies_report.to_markdown([("table", head, rows)])))
    print("held-out real images, then the diffusion model's realizations")
    display(Image(filename=str(WORK / "compare128" / "real-samples.png")))
    display(Image(filename=str(WORK / "compare128" / s128["runs"][0]["assets"]["samples"])))
    '''),
    code('''
    inp = gl.inpaint_demo(diff_src, truth_seed=3, wells=9, n=N_INPAINT, out_dir=WORK / "inpaint", **INPAINT)
    cols = ["n", "nfe", "wells_honoured", "wells_agreed_before_paste", "field_accuracy_vs_truth", "pixel_std_mean",
            "channel_fraction", "seconds"]
    table([{k: inp[k] for k in cols}], cols)
    for key, caption in [("wells", "truth and well cells"), ("realizations", "truth + inpainted realizations"),
                         ("means", "truth, mean of the inpainted realizations")]:
        print(caption)
        display(Image(filename=str(WORK / "inpaint" / inp["assets"][key])))
    print(f"reproduce: genlab channels inpaint {diff_src} --truth-seed 3 --wells 9 -n {N_INPAINT} "
          f"--steps {INPAINT['steps']} --jump {INPAINT['jump']} --resample {INPAINT['resample']}")
    '''),
]

# ---------------------------------------------------------------------------------------------------- 04 diffusion

NB04 = [
    md(f"""
    # 04 · Diffusion models, step by step

    The algorithms of the diffusion course (seed document 003) on a trained MNIST model: the **forward process**
    (a Markov chain that adds Gaussian noise, and its closed form that jumps to any step), **noise schedules**
    (linear vs cosine), the **training objective** (predict the noise), the **reverse process** as run by three
    samplers (DDPM ancestral, DDIM, DPM-Solver++), **classifier-free guidance** and its fidelity/diversity
    trade-off, the **intermediate predictions** of the clean image along the way, then **every sampler** of genlab
    side by side, the **score-based view** (a noise-conditional score network trained by denoising score matching,
    annealed Langevin dynamics, VE/VP SDEs with predictor-corrector sampling), the **exact likelihood** of the
    probability-flow ODE, and **classifier guidance** beside classifier-free guidance.

    {RENDER_NOTE}
    """),
    *header("04_diffusion", 'gl.write_toy_mnist(WORK / "data")', {"time", "np", "make_grid"}),
    code('''

    PRESET, PRETRAINED = "mnist-diffusion-quick", "mnist-ddpm"  # the pretrained name, if this installation ships it
    if FULL:
        OVERRIDES, STEPS, N_EVAL, MAX_TRAIN = [], 20, 500, 10000
        STEP_COUNTS, GUIDANCE = (1, 2, 5, 10, 20, 50), (0.0, 1.0, 2.0, 4.0, 7.0)
    else:
        OVERRIDES = [__TINY_UNET__, "train.batch_size=16", "train.max_steps=8",
                     "train.epoch_images=64", "train.log_every=1", "sample.num_images=8", "sample.steps=2",
                     "data.download=false"]
        STEPS, N_EVAL, MAX_TRAIN = 4, 16, None
        STEP_COUNTS, GUIDANCE = (1, 2, 4), (0.0, 1.0, 4.0)
    source = gl.pretrained_or_train(PRETRAINED, PRESET, [*OVERRIDES, f"run_dir={RUNS / PRESET}"],
                                    progress=FULL)
    gen = gl.load(source)
    cfg = gen.model.cfg
    print(f"schedule {cfg.schedule}, T = {cfg.num_train_steps} steps, the U-Net predicts {cfg.prediction}, "
          f"{gen.num_classes} classes (+ a null class for guidance, dropped with p = {cfg.p_uncond})")
    x_u8, y = gl.load_dataset("mnist", "test", download=FULL).get_batch(np.arange(8))
    x0 = gen.codec.encode(x_u8)  # uint8 0..255 -> model space [-1, 1]
    '''),
    md("""
    ## 1. The forward process

    Each step adds a little Gaussian noise: q(x_t | x_{t-1}) = N(√(1-β_t) x_{t-1}, β_t I). Because Gaussians
    compose, any step can be reached in one jump: with ᾱ_t = ∏_{s≤t} (1-β_s),

    x_t = √ᾱ_t · x_0 + √(1-ᾱ_t) · ε,  ε ~ N(0, I).

    Below, eight test digits at increasing t under both schedules (each image keeps the same ε in every column,
    so only the noise level changes):
    """),
    code('''
    TS = [0, 50, 100, 200, 300, 500, 700, 999]
    panels = []
    for schedule in ("linear", "cosine"):
        noisy = gl.forward_process(x0, TS, schedule)  # (len(TS), 8, 1, 28, 28)
        grid = gl.make_grid(gen.codec.to_display(noisy.transpose(0, 1).flatten(0, 1)), nrow=len(TS))
        panels.append((f"{schedule}: columns t = {', '.join(map(str, TS))}", grid))
    show_panels(panels, "forward-process", max_cols=2)
    '''),
    md("""
    The jump is exact, not an approximation. Run the chain step by step (t + 1 small noise steps) for many
    independent noise draws of one image and compare with the closed form: the mean of x_t is √ᾱ_t · x_0 (slope
    of mean(x_t) against x_0) and its standard deviation is √(1-ᾱ_t).
    """),
    code('''
    DRAWS, CHECK_TS = (400, (100, 500, 900)) if FULL else (48, (100, 900))
    one = x0[:1].expand(DRAWS, -1, -1, -1)  # one image, DRAWS independent noise draws
    rows = []
    for schedule in ("linear", "cosine"):
        ab = gl.schedule_curves([schedule])[schedule]["alpha_bar"]
        for t in CHECK_TS:
            chain = gl.forward_chain(one, t, schedule, seed=t)  # step by step
            jump = gl.forward_process(one, [t], schedule, seed=10_000)[0]  # one jump
            ref = x0[0].flatten().double()
            slope = {k: float(torch.dot(v.mean(0).flatten().double(), ref) / torch.dot(ref, ref))
                     for k, v in (("chain", chain), ("jump", jump))}
            rows.append({"schedule": schedule, "t": t, "√ᾱ_t": ab[t] ** 0.5, "slope (chain)": slope["chain"],
                         "slope (jump)": slope["jump"], "√(1-ᾱ_t)": (1 - ab[t]) ** 0.5,
                         "std (chain)": float(chain.std(0).mean()), "std (jump)": float(jump.std(0).mean())})
    table(rows, list(rows[0]), fmt=".3f")
    '''),
    md("""
    ## 2. Noise schedules: linear vs cosine

    DDPM's linear schedule (β from 1e-4 to 0.02 over T = 1000) destroys a 28×28 image early: ᾱ drops fast and the
    last few hundred steps are nearly pure noise, wasted for training and sampling. The cosine schedule (Nichol &
    Dhariwal 2021) makes log-SNR = log(ᾱ/(1-ᾱ)) fall almost linearly in t, spreading the work evenly — you can see
    it in the forward-process grids above. genlab's presets use cosine.
    """),
    code('''
    curves = gl.schedule_curves(("linear", "cosine"))
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.3))
    for name, c in curves.items():
        ax[0].plot(c["t"], c["alpha_bar"], label=name)
        ax[1].plot(c["t"], c["log_snr"], label=name)
        ax[2].plot(c["t"], c["beta"], label=name)
    ax[0].set(title="ᾱ_t (signal kept)", xlabel="t")
    ax[1].set(title="log SNR", xlabel="t")
    ax[2].set(title="β_t (noise added per step)", xlabel="t", yscale="log")
    ax[0].legend()
    plt.show()
    table([{"schedule": n, "ᾱ at t = T-1": float(c["alpha_bar"][-1]),
            "steps with ᾱ < 0.01 (almost pure noise)": int((c["alpha_bar"] < 0.01).sum()),
            "steps with ᾱ > 0.99 (almost clean)": int((c["alpha_bar"] > 0.99).sum())} for n, c in curves.items()],
          ["schedule", "ᾱ at t = T-1", "steps with ᾱ < 0.01 (almost pure noise)",
           "steps with ᾱ > 0.99 (almost clean)"])
    '''),
    md("""
    ## 3. What the network learns

    Training draws an image x_0, a step t and a noise ε, forms x_t in one jump, and regresses the network's output
    on the noise (Ho et al. 2020): L = E ‖ε − ε_θ(x_t, t)‖². This model predicts v = √ᾱ ε − √(1-ᾱ) x_0 instead
    (Salimans & Ho 2022), which is the same information and better conditioned at both ends; ε and x̂_0 follow by
    linear algebra. The noise prediction is also the **score**: ∇ log p_t(x_t) = −ε/√(1-ᾱ_t), so a diffusion
    model is a score-based model and sampling is annealed Langevin-like dynamics.

    How well does the trained network recover x_0 from x_t at each noise level? Near t = 0 almost perfectly;
    near t = T it can only guess the average digit of the class:
    """),
    code('''
    TS_ERR = np.linspace(0, cfg.num_train_steps - 1, 25 if FULL else 6).round().astype(int)
    err = gl.denoising_error(gen, x0, TS_ERR, labels=y)
    plt.figure(figsize=(6, 3.3))
    plt.plot(TS_ERR, err, marker="o", label="x̂_0 from x_t (this model)")
    plt.axhline(float((x0 - x0.mean(0)).square().mean()), color="gray", linestyle="--",
                label="predict the mean of these images")
    plt.gca().set(xlabel="t", ylabel="MSE (model space)", title="denoising error per noise level")
    plt.legend()
    plt.show()
    '''),
    md("""
    ## 4. The reverse process: three samplers, one network

    All three start from the same x_T ~ N(0, I) and call the same denoiser; they differ in the update:

    - **DDPM** (ancestral): sample x_{t-1} from the Gaussian posterior q(x_{t-1} | x_t, x̂_0) — fresh noise every
      step; needs many steps.
    - **DDIM** (η = 0): move along the deterministic path x_s = √ᾱ_s x̂_0 + √(1-ᾱ_s) ε̂ — no fresh noise, so large
      jumps work and x_T fully determines the image.
    - **DPM-Solver++(2M)**: a second-order multistep solver of the same ODE in log-SNR, using the previous x̂_0 to
      correct the current one — good images in 10–20 steps.

    Each picture: the top row is the state x_t fed to the network at each step (left = pure noise), the bottom row
    the network's x̂_0 at that step; the last x̂_0 is the sample.
    """),
    code('''
    TRAJ_STEPS = 10 if FULL else 4
    for sampler in ("ddpm", "ddim", "dpmpp-2m"):
        tr = gl.trajectory(gen, seeds=[7], labels=3, sampler=sampler, steps=TRAJ_STEPS, guidance=2.0)
        print(f"{sampler}: t = {tr.timesteps}")
        show(gen.codec.to_display(torch.cat([tr.x[:, 0], tr.x0_hat[:, 0]])), f"trajectory-{sampler}",
             nrow=tr.nfe, scale=3)
    '''),
    md("""
    **DDIM's η.** η interpolates between deterministic DDIM (η = 0) and DDPM's ancestral step (η = 1, the same
    posterior variance). In genlab all the noise of image *i* — x_T and every step's fresh noise — comes from its
    own seed, so even stochastic samplers are reproducible; what η changes is whether the image is a function of
    x_T alone. DDIM with η = 1 and DDPM produce the same update, which the last line checks numerically.
    """),
    code('''
    common = {"seed": 50, "labels": list(range(10)), "steps": STEPS, "guidance": 2.0}
    panels = []
    for eta in (0.0, 0.5, 1.0):
        a = gen.generate(10, sampler="ddim", eta=eta, **common)
        b = gen.generate(10, sampler="ddim", eta=eta, **common)
        panels.append((f"DDIM η = {eta}", gl.make_grid(a, nrow=10)))
        print(f"η = {eta}: same seeds twice -> identical: {torch.equal(a, b)}")
    show_panels(panels, "ddim-eta", max_cols=1)
    ddim1 = gen.generate_model_space(list(range(50, 60)), torch.arange(10), sampler="ddim", eta=1.0, steps=STEPS,
                                     guidance=2.0)
    ddpm = gen.generate_model_space(list(range(50, 60)), torch.arange(10), sampler="ddpm", steps=STEPS, guidance=2.0)
    print(f"max |DDIM(η = 1) − DDPM| = {float((ddim1 - ddpm).abs().max()):.2e} (model space, range 2)")
    '''),
    md("""
    **Steps.** Fewer steps = fewer network evaluations. Same seeds and classes, each sampler at several step
    counts, with the measured time per image:
    """),
    code('''
    panels, rows = [], []
    for sampler in ("ddpm", "ddim", "dpmpp-2m"):
        for steps in STEP_COUNTS:
            t0 = time.perf_counter()
            x = gen.generate(10, seed=0, labels=list(range(10)), sampler=sampler, steps=steps, guidance=2.0)
            rows.append({"sampler": sampler, "steps": steps, "network evaluations": 2 * steps,
                         "ms per image": 100 * (time.perf_counter() - t0)})
            panels.append((f"{sampler}, {steps} steps", gl.make_grid(x, nrow=10)))
    show_panels(panels, "steps", max_cols=len(STEP_COUNTS))
    table(rows, ["sampler", "steps", "network evaluations", "ms per image"], fmt=".1f")
    '''),
    md("""
    ## 5. Classifier-free guidance

    The network was trained with the class label dropped 10 % of the time, so it predicts both ε(x_t, class) and
    ε(x_t, ∅). Guidance extrapolates: ε̃ = ε(x_t, ∅) + w · (ε(x_t, class) − ε(x_t, ∅)). w = 0 is unconditional,
    w = 1 plain conditional, w > 1 pushes samples towards what the classifier-free "classifier" finds most typical
    of the class: more recognisable, less varied. Same seeds, classes 0–9 in each row:
    """),
    code('''
    panels = []
    for w in GUIDANCE:
        x = gen.generate(20, seed=0, labels=[i % 10 for i in range(20)], sampler="dpmpp-2m", steps=STEPS, guidance=w)
        panels.append((f"w = {w}", gl.make_grid(x, nrow=10)))
    show_panels(panels, "guidance", max_cols=len(GUIDANCE))
    '''),
    md("""
    Measured: precision (fidelity) and Inception Score rise with w while recall (diversity) falls; FID is best at a
    moderate w. Each row is `gl.evaluate` with that guidance on the same seeds; the floor is real vs real.
    """),
    code('''
    rows = []
    for w in GUIDANCE:
        r = gl.evaluate(source, n=N_EVAL, sampler="dpmpp-2m", steps=STEPS, guidance=w, max_train=MAX_TRAIN)
        rows.append({"w": w, "nfe": r["nfe"], **{k: r["metrics"][k] for k in
                                                ("fid", "is_mean", "precision", "recall", "class_kl_uniform")}})
    floor = r["metrics"]["floor"]
    rows.append({"w": "floor (real vs real)", **{k: floor[k] for k in ("fid", "is_mean", "precision", "recall",
                                                                       "class_kl_uniform")}})
    table(rows, ["w", "nfe", "fid", "is_mean", "precision", "recall", "class_kl_uniform"])
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.2))
    ws = list(GUIDANCE)
    ax[0].plot(ws, [r["precision"] for r in rows[:-1]], marker="o", label="precision")
    ax[0].plot(ws, [r["recall"] for r in rows[:-1]], marker="o", label="recall")
    ax[0].set(xlabel="guidance w", title=f"fidelity vs diversity (n = {N_EVAL})")
    ax[0].legend()
    ax[1].plot(ws, [r["fid"] for r in rows[:-1]], marker="o")
    ax[1].axhline(floor["fid"], color="gray", linestyle="--", label="floor")
    ax[1].set(xlabel="guidance w", ylabel="FID", yscale="log")
    ax[1].legend()
    plt.show()
    '''),
    md("""
    ## 6. Intermediate denoising steps

    The network's running estimate of the final image, x̂_0, for ten samples (one column each) at every step of a
    DDIM run (one row per step, top = pure noise): the coarse shape and the class are decided in the first,
    noisiest steps; the later steps only refine strokes and edges.
    """),
    code('''
    tr = gl.trajectory(gen, seeds=range(10), labels=list(range(10)), sampler="ddim", steps=STEPS * 2, guidance=2.0)
    print(f"t per row: {tr.timesteps}")
    show(gen.codec.to_display(tr.x0_hat.flatten(0, 1)), "x0-hat-per-step", nrow=10, scale=2)
    print("and the states x_t the network saw:")
    show(gen.codec.to_display(tr.x.flatten(0, 1)), "xt-per-step", nrow=10, scale=2)
    '''),
]


NB04 += [
    md("""
    ## 7. Every sampler, side by side

    The same network, seeds and classes through every sampler genlab has (`gl.SAMPLERS`; `genlab sample --sampler
    NAME`), at one step count. First order (DDIM, Euler), second/third order ODE solvers (Heun, DPM-Solver++ 2S/2M/3M,
    UniPC, PLMS), their stochastic versions (Euler-ancestral, DPM-Solver++ SDE) and the score-based samplers
    (annealed Langevin, predictor-corrector), with the measured time per image. Heun and DPM-Solver++(2S) call the
    network about twice per step, Langevin and predictor-corrector (corrector_steps + 1) times.
    """),
    code('''
    SAMPLER_STEPS = 10 if FULL else 3
    panels, rows = [], []
    for name in gl.SAMPLERS:
        t0 = time.perf_counter()
        x = gen.generate(10, seed=0, labels=list(range(10)), sampler=name, steps=SAMPLER_STEPS, guidance=2.0)
        rows.append({"sampler": name, "steps": SAMPLER_STEPS, "ms per image": 100 * (time.perf_counter() - t0)})
        panels.append((name, gl.make_grid(x, nrow=10)))
    show_panels(panels, "all-samplers", max_cols=2)
    table(rows, ["sampler", "steps", "ms per image"], fmt=".1f")
    '''),
    md("""
    **Sampler options.** η sets the fresh noise of DDIM and of the ancestral/SDE samplers (0 = deterministic, 1 =
    DDPM's amount); the Karras grid (EDM's ρ = 7 noise levels) spends more of the steps at low noise than the
    evenly spaced "trailing" grid; UniPC takes an order. Same seeds in every row:
    """),
    code('''
    variants = [("euler-ancestral", {"eta": 0.0}), ("euler-ancestral", {"eta": 0.5}), ("euler-ancestral", {"eta": 1.0}),
                ("dpmpp-2m", {"grid": "trailing"}), ("dpmpp-2m", {"grid": "karras"}), ("unipc", {"order": 1}),
                ("unipc", {"order": 3})]
    panels = []
    for name, opts in variants:
        x = gen.generate(10, seed=0, labels=list(range(10)), sampler=name, steps=SAMPLER_STEPS, guidance=2.0, **opts)
        panels.append((f"{name} {opts}", gl.make_grid(x, nrow=10)))
    show_panels(panels, "sampler-options", max_cols=1)
    '''),
    md("""
    ## 8. The score-based view: NCSN, annealed Langevin dynamics, VE and VP SDEs

    A **noise-conditional score network** s_θ(x, σ) estimates ∇ log p_σ(x), the score of the data blurred by
    Gaussian noise of level σ. **Denoising score matching** trains it without knowing p: for x̃ = x + σ z the score of
    the noising kernel is −z/σ, so L = E σ² ‖s_θ(x̃, σ) + z/σ‖² (Song & Ermon 2019; genlab's U-Net predicts σ s_θ).
    The `score-sde` family trains one on the noise levels of an SDE:

    - **VE** (variance exploding, NCSN/SMLD): x̃ = x + σ(t) z with σ geometric from 0.01 to 50; `mnist-ncsn` trains on
      200 discrete levels and samples with **annealed Langevin dynamics** — at each level, a few steps of
      x ← x + (α/2) s_θ(x, σ) + √α z, with α ∝ σ²;
    - **VP** (variance preserving, the continuous DDPM): dx = −½β(t) x dt + √β(t) dW; `mnist-sde-vp`.

    Both SDEs are reversed by **predictor-corrector** sampling (Song et al. 2021): a reverse-diffusion step to the
    next level (predictor), then Langevin steps at that level whose size keeps a signal-to-noise ratio (corrector).
    Because the score and the denoiser are the same thing (Tweedie: s = (D(x) − x)/σ²), every sampler works on
    every noise model — a diffusion model sampled by Langevin, a score model by DPM-Solver++.
    """),
    code('''
    if FULL:
        SCORE_OVERRIDES = []
    else:
        SCORE_OVERRIDES = [__TINY_UNET__, "train.batch_size=16", "train.max_steps=8", "train.epoch_images=64",
                           "sample.num_images=4", "sample.steps=3", "data.download=false"]
    score_runs = {name: gl.pretrained_or_train(None, name, [*SCORE_OVERRIDES, f"run_dir={RUNS / name}"],
                                               progress=FULL)
                  for name in ("mnist-ncsn", "mnist-sde-ve", "mnist-sde-vp")}
    SCORE_STEPS = 100 if FULL else 4
    panels = []
    for name, sampler in (("mnist-ncsn", "langevin"), ("mnist-sde-ve", "pc-ve"), ("mnist-sde-vp", "pc-vp"),
                          ("mnist-sde-vp", "dpmpp-2m"), ("mnist-ncsn", "dpmpp-2m")):
        g = gl.load(score_runs[name])
        steps = SCORE_STEPS if sampler != "dpmpp-2m" else STEPS
        x = g.generate(20, seed=0, sampler=sampler, steps=steps)
        panels.append((f"{name}, {sampler}, {steps} steps", gl.make_grid(x, nrow=10)))
    show_panels(panels, "score-samplers", max_cols=1)
    '''),
    md("""
    ## 9. Exact likelihood: the probability-flow ODE

    Every SDE has a deterministic twin with the same marginals, the **probability-flow ODE** dx̃/dσ = (x̃ − D(x̃; σ))/σ.
    Run from a data point up to pure noise, the change-of-variables formula gives its exact log-density:
    log p₀(x) = log p_T(x_T) + ∫ div f dσ. The divergence is the trace of a Jacobian, estimated with **Hutchinson's
    trick** E[vᵀ(∂f/∂x)v] (one backward pass per probe v). `gl.likelihood` does this on random test images with
    uniform dequantisation and reports **bits per dimension** (8 = a uniform density over the 256 grey levels;
    lower is better) with its standard error. `genlab likelihood SNAPSHOT -n 256` is the same from the shell.
    """),
    code('''
    N_LL, LL_STEPS = (256, 100) if FULL else (4, 4)
    rows = []
    for label, src in (("score-sde VP (mnist-sde-vp)", score_runs["mnist-sde-vp"]),
                       ("score-sde VE (mnist-sde-ve)", score_runs["mnist-sde-ve"]), (f"diffusion ({PRESET})", source)):
        r = gl.likelihood(src, n=N_LL, steps=LL_STEPS, batch_size=64)
        rows.append({"model": label, "bits/dim": r["bits_per_dim"], "± (std. error)": r["std_error"], "n": r["n"],
                     "ODE levels": r["steps"], "network evaluations per image": r["network_evaluations_per_image"],
                     "seconds": r["seconds"]})
    table(rows, list(rows[0]), fmt=".3f")
    '''),
    md("""
    ## 10. Classifier guidance beside classifier-free guidance

    **Classifier guidance** (Dhariwal & Nichol 2021) steers any noise model — also an unconditional one — with a
    separate classifier p(y | x_t, t) trained on *noisy* images at the model's own noise levels: the noise
    prediction moves along its gradient, ε′ = ε − s·σ·∇ log p(y | x_t, t). `gl.train_classifier` (`genlab
    train-classifier SNAPSHOT -o clf.safetensors`) trains one; its accuracy falls to chance as the noise grows.
    Below: the unconditional VP score model steered to each class 0–9 by the classifier at growing strength s, and
    the class-conditional diffusion model with classifier-free guidance w and with classifier guidance. The share of
    samples of the target class is judged by a second classifier trained with another seed (not the guiding one).
    """),
    code('''
    CLF_STEPS, N_JUDGE = (1500, 200) if FULL else (4, 20)
    clf_vp, judge_vp = (gl.train_classifier(score_runs["mnist-sde-vp"], WORK / f"clf-vp-{k}.safetensors",
                                            steps=CLF_STEPS, seed=k) for k in (0, 1))
    clf_dm, judge_dm = (gl.train_classifier(source, WORK / f"clf-diffusion-{k}.safetensors", steps=CLF_STEPS, seed=k)
                        for k in (0, 1))
    table([{"classifier for": name, **{f"accuracy at t = {t}": a for t, a in r["test_accuracy_by_t"].items()},
            "test images": r["test_images"]} for name, r in (("score-sde VP", clf_vp), ("diffusion", clf_dm))],
          ["classifier for", *[f"accuracy at t = {t}" for t in clf_vp["test_accuracy_by_t"]], "test images"],
          fmt=".3f")
    targets = [i % 10 for i in range(N_JUDGE)]

    def hit_rate(images, judge):
        return float((gl.classify(judge["output"], images).argmax(1) == torch.tensor(targets)).float().mean())

    vp, panels, rows = gl.load(score_runs["mnist-sde-vp"]), [], []
    for s in (0.0, 1.0, 3.0):
        x = vp.generate(N_JUDGE, seed=0, sampler="dpmpp-2m", steps=STEPS, classifier=clf_vp["output"],
                        classifier_scale=s)  # target of seed i: i mod 10
        panels.append((f"VP score model + classifier guidance s = {s}", gl.make_grid(x[:20], nrow=10)))
        rows.append({"model": "score-sde VP (unconditional)", "guidance": f"classifier s = {s}",
                     "target-class share": hit_rate(x, judge_vp), "n": N_JUDGE})
    for label, opts in (("classifier-free w = 1", {"guidance": 1.0}), ("classifier-free w = 2", {"guidance": 2.0}),
                        ("w = 1 + classifier s = 2", {"guidance": 1.0, "classifier": clf_dm["output"],
                                                      "classifier_scale": 2.0})):
        x = gen.generate(N_JUDGE, seed=0, labels=targets, sampler="dpmpp-2m", steps=STEPS, **opts)
        panels.append((f"diffusion, {label}", gl.make_grid(x[:20], nrow=10)))
        rows.append({"model": "diffusion (conditional)", "guidance": label,
                     "target-class share": hit_rate(x, judge_dm), "n": N_JUDGE})
    show_panels(panels, "classifier-guidance", max_cols=1)
    table(rows, ["model", "guidance", "target-class share", "n"], fmt=".3f")
    '''),
]

# ---------------------------------------------------------------------------------------------------- 05 autoencoders

def sec05_families() -> list:  # issue 20 item 1 — owner: aefamilies
    """VAE-GAN, adversarial AE, ladder VAE and VQ-VAE on the shared names of NB05's setup (x, x_u8, y, codec, TINY,
    N, RUNS, gens["VAE"])."""
    return [
        md("""
        ## Four more families: VAE-GAN, adversarial AE, ladder VAE, VQ-VAE

        Each answers a weakness of the plain VAE (docs/families.md has the recipes, minutes and FID):

        | family | what changes | loss per image | latent |
        |---|---|---|---|
        | **VAE-GAN** (Larsen et al. 2016) | reconstruction measured in a discriminator's feature space, decoder = GAN generator | KL + ½‖Dis_l(x) − Dis_l(x̃)‖² + small pixel NLL + GAN loss on reconstructions and prior samples | Gaussian, 16-d |
        | **AAE** (Makhzani et al. 2016) | no KL: a discriminator on *codes* pushes the aggregate code distribution onto N(0, I) | reconstruction + (encoder fools the code discriminator) | deterministic, 8-d |
        | **ladder VAE** (Sønderby et al. 2016) | two stochastic layers z2 → z1 → x; inference goes bottom-up, then top-down with precision-weighted posteriors | reconstruction + KL(q(z2) ‖ N(0, I)) + KL(q(z1\\|x, z2) ‖ p(z1\\|z2)) | [z1 (32), z2 (16)] |
        | **VQ-VAE** (van den Oord et al. 2017) | a discrete code grid: each position snaps to the nearest of 64 codebook vectors; a small causal transformer learns p(codes) to sample | reconstruction + ‖sg[z_e] − e‖² + 0.25·‖z_e − sg[e]‖² (straight-through gradient); prior: cross-entropy | 7×7 grid of 64 codes |
        """),
        code('''
        FAMILY_RUNS = {  # label: (pretrained name, preset, tiny-mode extras)
            "VAE-GAN": ("mnist-vaegan", "mnist-vaegan", ["model.d_base_channels=4"]),
            "AAE": ("mnist-aae", "mnist-aae", ["model.d_hidden=16"]),
            "ladder VAE": ("mnist-ladder", "mnist-ladder", ["model.hidden=16"]),
            "VQ-VAE": ("mnist-vqvae", "mnist-vqvae", ["model.prior_width=16", "model.prior_depth=1",
                                                      "model.prior_heads=2", "model.prior_start_step=0"]),
        }
        fam_sources, fam = {}, {}
        for label, (name, preset, extra) in FAMILY_RUNS.items():
            overrides = [*TINY, *([] if FULL else extra), f"run_dir={RUNS / preset}"]
            fam_sources[label] = gl.pretrained_or_train(name, preset, overrides, progress=FULL)
            fam[label] = gl.load(fam_sources[label])
        table([{"model": label, "family": g.header["family"], "parameters": sum(p.numel() for p in g.model.parameters()),
                "latent": tuple(g.model.latent_shape), "steps": g.header.get("step"),
                "CPU min": g.header.get("train_seconds", 0.0) / 60} for label, g in fam.items()],
              ["model", "family", "parameters", "latent", "steps", "CPU min"])
        panels = [(label, gl.make_grid(g.generate(32, seed=0), nrow=8)) for label, g in
                  {"VAE": gens["VAE"], **fam}.items()]
        show_panels(panels, "family-samples", max_cols=5)
        recs = {label: gl.reconstruct(g.model, x) for label, g in {"VAE": gens["VAE"], **fam}.items()}
        show(torch.cat([x_u8[:12]] + [codec.to_display(r[:12]) for r in recs.values()]), "family-reconstructions",
             nrow=12)
        print("rows:", ["input", *recs])
        table([{"model": label, "MSE (pixels 0-1)": float(((r - x) / 2).square().mean())} for label, r in recs.items()],
              ["model", "MSE (pixels 0-1)"])
        '''),
        md("""
        ### What each latent looks like

        - **AAE**: the code discriminator should leave the codes of test images looking like N(0, I) draws — mean
          near 0, standard deviation near 1 per dimension, and the scatter of two dimensions filling the prior's disc.
        - **ladder VAE**: how the KL (the information the codes carry) splits between the levels, and how many
          units of each level are active (average KL > 0.01 nats).
        - **VQ-VAE**: how many of the 64 codes the test images use and their perplexity exp(H) (64 = all used
          equally), and the prior's fit to the codes in bits per code (log2 64 = 6 would be a uniform guess).
        """),
        code('''
        z_aae = gl.encode_means(fam["AAE"].model, x)
        prior = torch.randn_like(z_aae)
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
        ax[0].scatter(prior[:, 0], prior[:, 1], s=4, alpha=0.4, label="prior N(0, I)")
        ax[0].scatter(z_aae[:, 0], z_aae[:, 1], s=4, alpha=0.6, c=y.numpy(), cmap="tab10", label="AAE codes")
        ax[0].set(title="AAE codes (dims 0, 1), coloured by digit", aspect="equal")
        ax[0].legend(loc="upper right", fontsize=7)
        ax[1].bar(range(z_aae.shape[1]), z_aae.std(0).numpy(), label="std")
        ax[1].plot(range(z_aae.shape[1]), z_aae.mean(0).numpy(), "k.", label="mean")
        ax[1].set(title="per-dimension mean and std of AAE codes", xlabel="dimension")
        ax[1].legend(fontsize=7)
        plt.show()

        ladder = fam["ladder VAE"].model
        with torch.no_grad():
            torch.manual_seed(0)
            _, logs = ladder("model", x, None)
        table([{"KL z1 (nats)": float(logs["kl1"]), "KL z2 (nats)": float(logs["kl2"]),
                "active z1": f"{int(logs['active_z1'])} of {ladder.cfg.latent_dim}",
                "active z2": f"{int(logs['active_z2'])} of {ladder.cfg.top_latent_dim}",
                "ELBO (nats)": float(logs["elbo"])}],
              ["KL z1 (nats)", "KL z2 (nats)", "active z1", "active z2", "ELBO (nats)"])

        vq = fam["VQ-VAE"].model
        with torch.no_grad():
            codes = vq.codes(x)
            bits = float(vq.prior.nll(codes).mean() / codes[0].numel() / np.log(2))
        counts = torch.bincount(codes.flatten(), minlength=vq.cfg.codebook_size).float()
        p = counts / counts.sum()
        perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
        table([{"codes used": f"{int((counts > 0).sum())} of {vq.cfg.codebook_size}", "perplexity": perplexity,
                "prior bits per code": bits}], ["codes used", "perplexity", "prior bits per code"])
        show(torch.cat([x_u8[:12], codec.to_display(gl.reconstruct(vq, x[:12])),
                        codec.to_display(fam["VQ-VAE"].generate(12, seed=1))]), "vq-codes", nrow=12)
        print("rows: test digits, VQ-VAE reconstructions from 7×7 code grids, samples of the transformer prior")
        '''),
    ]


def sec05_metrics() -> list:  # issue 20 items 2, 3 and the probe of 5 — owner: aemetrics
    """IWAE likelihood, the one-class anomaly protocol and the linear probe on the shared names of NB05's setup
    (x, y, gens, fam from sec05_families, FULL, N)."""
    return [
        md("""
        ## How likely is a test digit? The importance-weighted bound

        A VAE gives a lower bound on log p(x), the ELBO. Drawing k codes from q(z|x) and averaging the importance
        weights p(x, z)/q(z|x) gives a tighter bound L_k (Burda et al. 2016), which climbs towards log p(x) as k
        grows. The Bernoulli decoder's likelihood is a proper probability only for **binary** images, so the test
        digits are binarized with a seeded coin flip per pixel (P(on) = intensity) first. Published numbers on
        binarized MNIST: one-layer VAE 86.8 nats, IWAE 84.8 (−L_5000); docs/families.md has genlab's table
        (`python benchmarks/ae_likelihood.py`, `genlab likelihood RUN --k 5000 --n 100`).
        """),
        code('''
        xb = gl.binarize_seeded(x, seed=0)
        KS = (1, 10, 100, 1000) if FULL else (1, 10, 100)
        vae_like = {"VAE": gens["VAE"].model, **({"ladder VAE": fam["ladder VAE"].model} if "fam" in dir() and
                                                 "ladder VAE" in fam else {})}
        rows = []
        for label, model in vae_like.items():
            for k in KS:
                r = gl.iwae_nll(model, xb, k, batch_size=max(1, 2000 // k), chunk=500, seed=0, binarized=True)
                rows.append({"model": label, "k": k, "n": r.n, "−L_k (nats)": r.nll_nats, "± s.e.": r.stderr_nats,
                             "CPU-s per image": r.seconds_per_image})
        table(rows, ["model", "k", "n", "−L_k (nats)", "± s.e.", "CPU-s per image"], fmt=".3f")
        print("IWAE: −L_k never rises with k (in expectation); published −L_5000: VAE 86.76, IWAE 84.78 nats")
        '''),
        md("""
        ## One-class anomaly detection (the Deep SVDD protocol)

        Ruff et al. (2018) train on **one** class and call the other nine anomalies, for each class in turn, and
        average ROC AUC over the ten. Here a small VAE per class gives five scores: −ELBO, −IWAE, reconstruction
        error, the density of the code under a Gaussian fitted to the training codes, and recon + latent (each
        standardised on held-out normal images); a pixel-space PCA reconstruction error is the baseline that needs no
        network. The F1 threshold is the 95th percentile of the scores of 10 % held-out normal training images — no
        anomaly is looked at to choose it. Tiny mode runs two classes on the toy data; the full table (10 classes,
        MNIST and Fashion-MNIST) is `python benchmarks/ae_anomaly.py` / `genlab anomaly`.
        """),
        code('''
        one = gl.one_class_anomaly("mnist", classes=list(range(10)) if FULL else [0, 1],
                                   steps=200 if FULL else 10, k=5, test_limit=2000 if FULL else None)
        table([{"score": s, **m} for s, m in one["mean"].items()],
              ["score", "roc_auc", "pr_auc", "f1", "precision", "recall", "pr_auc_chance"], fmt=".3f")
        print("classes:", one["classes"], "| test images per class:", one["settings"]["num_test"])
        '''),
        md("""
        ## Linear probe: how much class information do the codes keep?

        A logistic regression fitted on frozen codes of training images and scored on test codes — the standard
        probe of representation learning. Read it against two baselines: the majority class (chance) and the same
        probe on the raw pixels.
        """),
        code('''
        train_ds = gl.load_dataset("mnist", "train", download=FULL)
        n_probe = 10000 if FULL else len(train_ds)
        idx = np.sort(np.random.default_rng(0).choice(len(train_ds), size=min(n_probe, len(train_ds)), replace=False))
        x_tr_u8, y_tr = train_ds.get_batch(idx)
        x_tr = codec.encode(x_tr_u8)
        probe_models = {**{k: g for k, g in gens.items()}, **(fam if "fam" in dir() else {})}
        rows = [{"model": "raw pixels (baseline)", **gl.linear_probe(x_tr, y_tr, x, y).to_dict()}]
        for label, g in probe_models.items():
            rows.append({"model": label, **gl.linear_probe(gl.frozen_codes(g.model, x_tr), y_tr,
                                                          gl.frozen_codes(g.model, x), y).to_dict()})
        table(rows, ["model", "accuracy", "stderr", "chance", "dim", "n_train", "n_test"], fmt=".3f")
        '''),
    ]



def sec05_disentangle() -> list:  # issue 20 item 4 and the explorer of item 6 — owner: disentangle
    """β-VAE and β-TC-VAE on the procedural dSprites-like shapes: traversals, MIG, the latent explorer (needs FULL,
    RUNS, show_panels, table and gl from NB05's setup; trains its own runs)."""
    return [
        md("""
        ## Disentanglement: β-VAE and β-TC-VAE on dSprites-like shapes

        A *disentangled* code gives each independent factor of the data its own latent dimension. To measure it the
        factors must be known, so genlab draws its own dSprites (Matthey et al. 2017): white shapes (square, ellipse,
        heart) at 6 scales, 40 orientations and 32 × 32 positions, every factor drawn independently from a seed
        (`dsprites` in the dataset registry; `data.options.size` 16/32/64, `n`, `seed`; the factor labels come with
        the images).

        - **β-VAE** (Higgins et al. 2017, `model.beta`): the whole KL weighted by β > 1, which squeezes the code
          towards the factorised prior, and the reconstructions with it.
        - **β-TC-VAE** (Chen et al. 2018, `model.tc_beta`): the KL splits into index-code mutual information, total
          correlation (TC) and dimension-wise KL; only the TC, the dependence *between* code dimensions, is weighted
          by β, estimated on each batch by minibatch-weighted sampling.
        - **MIG**, the mutual information gap (Chen et al. 2018): for each factor, the information the best code
          dimension has about it minus that of the second best, over the factor's entropy; averaged over factors.
          1 = every factor in one dimension of its own, 0 = none (`gl.disentanglement`, `genlab latent mig`).
        """),
        code('''
        SPRITES = ["data.dataset=dsprites", "data.download=false", "model.latent_dim=10", "model.likelihood=bernoulli",
                   "model.kl_warmup_steps=200", "train.batch_size=64", "train.lr=1e-3", "train.epochs=0",
                   "train.precision=fp32", "train.ema_decay=0.995", "sample.num_images=36"]
        if FULL:  # benchmarks/ae_disentangle.py's runs: 600 steps, ~1.6 CPU-min each
            SPRITES += ["data.options.size=32", "data.options.n=20000", "model.base_channels=16",
                        "train.max_steps=600", "train.epoch_images=32000", "train.warmup_steps=50"]
        else:
            SPRITES += ["data.options.size=16", "data.options.n=400", "model.base_channels=4", "model.max_channels=16",
                        "train.max_steps=4", "train.epoch_images=256", "train.warmup_steps=1"]
        sprite_runs = {}
        for label, name, extra in (("VAE (β = 1)", "vae-beta1", "model.beta=1"),
                                   ("β-VAE (β = 8)", "vae-beta8", "model.beta=8"),
                                   ("β-TC-VAE (β = 8)", "tcvae-beta8", "model.tc_beta=8")):
            run = RUNS / f"sprites-{name}"
            sprite_runs[label] = gl.train("mnist-vae", [*SPRITES, extra, f"run_dir={run}"], progress=FULL).run_dir
        data = gl.load_dataset("dsprites", "test", **{k.split(".")[-1]: int(v) for k, v in
                                                    (o.split("=") for o in SPRITES if o.startswith("data.options"))})
        show(data.get_batch(range(16))[0], "05_sprites", nrow=16)
        print("factors of the first four:", dict(zip(data.factor_names, data.factors[:4].T.tolist())))
        '''),
        code('''
        # traversals from the first test image: one row per most-varied latent dimension, -2.5 .. 2.5 stds of its codes
        panels = []
        for label, run in sprite_runs.items():
            res, dims = gl.traverse(run, image=0, rows=5, split="test")
            panels.append((f"{label}: dims {dims}", gl.make_grid(res.images, nrow=9)))
        show_panels(panels, "05_traversals", max_cols=3)
        rows = []
        for label, run in sprite_runs.items():
            m = gl.disentanglement(run, n=4000)
            rows.append({"model": label, "MIG": m["mig"], **m["per_factor"], "n": m["n"]})
        table(rows, ["model", "MIG", "shape", "scale", "orientation", "pos_x", "pos_y", "n"], fmt=".3f")
        '''),
        md("""
        docs/families.md ("Disentanglement") has MIG against β ∈ {1, 4, 8} for both objectives from
        `benchmarks/ae_disentangle.py`, with the untrained-encoder baseline and the factors-as-code ceiling. In a
        traversal, a disentangled row moves one thing: the shape slides left-right, or grows, or turns, while the
        others stay; an entangled row moves several at once.

        **The latent explorer.** `genlab serve` has the same idea live for every model with a latent: *Explore the
        latent space* (Images tab) puts one slider on each principal direction of the model's encoded training codes
        (or on chosen dimensions) and decodes the code as the sliders move (docs/web.md). The page calls the same
        two API functions as the cell below.
        """),
        code('''
        gen = gl.load(sprite_runs["β-TC-VAE (β = 8)"])
        basis = gl.explorer_basis(gen, "pca", k=4, n=500)
        print(f"{basis.source} codes: {basis.num_codes}; variance share of the 4 directions:",
              [round(float(e), 3) for e in basis.explained])
        steps = [-2, -1, 0, 1, 2]
        sweep = [gl.explore(gen, basis, [c if i == d else 0.0 for i in range(4)]) for d in range(4) for c in steps]
        show(torch.cat(sweep), "05_explorer_pca", nrow=len(steps))
        '''),
    ]


NB05 = [
    md(f"""
    # 05 · Autoencoders: AE, denoising, sparse, VAE and β-VAE side by side

    The autoencoder course (seed document 004): the conventional autoencoder, the denoising autoencoder, the
    sparse autoencoder and the variational autoencoder (with β > 1 as the β-VAE), trained on MNIST with the same
    convolutional encoder and decoder; compared on what the course evaluates: reconstruction error, robustness to
    noise, sparsity of the code, samples, **latent-space projections** (PCA / t-SNE), interpolation, vector
    arithmetic and **anomaly detection** with precision, recall and F1.

    {RENDER_NOTE}
    """),
    *header("05_autoencoders", 'gl.write_toy_mnist(WORK / "data")', {"np", "make_grid"}),
    code('''

    MODELS = {  # label: (pretrained name, preset, overrides)
        "AE": ("mnist-ae", "mnist-ae", []),
        "denoising AE": ("mnist-dae", "mnist-dae", []),
        "sparse AE": ("mnist-sparse-ae", "mnist-sparse-ae", []),
        "VAE": ("mnist-vae", "mnist-vae", []),
        "β-VAE (β = 4)": ("mnist-beta-vae", "mnist-vae", ["model.beta=4"]),
    }
    NORMAL = list(range(9))  # anomaly detection: a model trained on digits 0-8; 9 is the anomaly
    if FULL:  # the presets as shipped: 3-5 CPU minutes each when trained here
        TINY, N, N_PROJ, PROJECTION = [], 2000, 2000, "tsne"
    else:
        TINY = ["model.base_channels=4", "model.max_channels=16", "train.batch_size=16", "train.max_steps=6",
                "train.epoch_images=32", "train.log_every=1", "sample.num_images=8", "data.download=false"]
        N, N_PROJ, PROJECTION = 64, 64, "pca"
    '''),
    md("""
    ## Five models, one architecture

    All five use the same convolutional encoder and decoder and differ only in the loss:

    | model | loss | code |
    |---|---|---|
    | AE | reconstruction | deterministic vector |
    | denoising AE | reconstruct the **clean** image from a corrupted one (Gaussian noise σ = 0.3) | deterministic |
    | sparse AE | reconstruction + λ·‖h‖₁ (a larger code, most of it pushed to zero) | deterministic, sparse |
    | VAE | reconstruction + KL(q(z\\|x) ‖ N(0, I)) = the negative ELBO | a Gaussian per image |
    | β-VAE | reconstruction + **β**·KL, β = 4: a more regular, more disentangled, blurrier latent | Gaussian |
    """),
    code('''
    sources, gens = {}, {}
    for label, (name, preset, extra) in MODELS.items():
        sources[label] = gl.pretrained_or_train(name, preset, [*extra, *TINY, f"run_dir={RUNS / name}"],
                                                progress=FULL)
        gens[label] = gl.load(sources[label])
    KEYS = ("likelihood", "corruption", "corruption_level", "sparsity", "sparsity_weight", "beta", "latent_dim")
    table([{"model": label, "family": g.header["family"], "parameters": sum(p.numel() for p in g.model.parameters()),
            "latent": tuple(g.model.latent_shape), "steps": g.header.get("step"),
            "CPU min": g.header.get("train_seconds", 0.0) / 60,
            "settings": ", ".join(f"{k}={v}" for k, v in vars(g.model.cfg).items() if k in KEYS)}
           for label, g in gens.items()], ["model", "family", "parameters", "latent", "steps", "CPU min", "settings"])
    codec = gens["AE"].codec
    test = gl.load_dataset("mnist", "test", download=FULL)
    idx = np.sort(np.random.default_rng(0).choice(len(test), size=min(N, len(test)), replace=False))
    x_u8, y = test.get_batch(idx)
    x = codec.encode(x_u8)  # model space [-1, 1]
    '''),
    md("""
    ## Reconstruction

    Top row: test digits; then each model's reconstruction decode(E[z|x]). The error is measured on all
    `N` test images, as mean squared error in pixel units (0–1) and as binary cross-entropy (nats per image,
    the VAE's reconstruction term).
    """),
    code('''
    recs = {label: gl.reconstruct(g.model, x) for label, g in gens.items()}
    show(torch.cat([x_u8[:12]] + [codec.to_display(r[:12]) for r in recs.values()]), "reconstructions", nrow=12)
    print("rows:", ["input", *recs])

    def bce(rec, target):
        p = ((rec + 1) / 2).clamp(1e-6, 1 - 1e-6)
        t = (target + 1) / 2
        return float(-(t * p.log() + (1 - t) * (1 - p).log()).flatten(1).sum(1).mean())

    table([{"model": label, "MSE (pixels 0-1)": float(((r - x) / 2).square().mean()), "BCE (nats/image)": bce(r, x)}
           for label, r in recs.items()], ["model", "MSE (pixels 0-1)", "BCE (nats/image)"])
    '''),
    md("""
    ## Denoising

    Corrupt the test digits (Gaussian noise σ = 0.3 in model space, and masking 30 % of the pixels) and ask each
    model for the clean digit. The denoising AE was trained for exactly this; the others only ever saw clean
    inputs. Error against the **clean** images:
    """),
    code('''
    torch.manual_seed(1)
    noisy = {"gaussian σ = 0.3": gl.corrupt(x, "gaussian", 0.3), "masking 30 %": gl.corrupt(x, "masking", 0.3)}
    rows = []
    for kind, xn in noisy.items():
        row = {"corruption": kind, "input itself": float(((xn - x) / 2).square().mean())}
        for label, g in gens.items():
            row[label] = float(((gl.reconstruct(g.model, xn) - x) / 2).square().mean())
        rows.append(row)
    table(rows, ["corruption", "input itself", *gens])
    xn = noisy["gaussian σ = 0.3"][:12]
    show(torch.cat([codec.to_display(xn)] + [codec.to_display(gl.reconstruct(gens[k].model, xn))
                                             for k in ("AE", "denoising AE", "VAE")]), "denoising", nrow=12)
    print("rows: noisy input, AE, denoising AE, VAE")
    '''),
    md("""
    ## Sparsity of the code

    The sparse AE's L1 penalty should leave most code units near zero for any given image (each image uses a few
    features), while the plain AE spreads information over all of them. Histogram of |code| values over the
    test images, and the fraction of units below 5 % of the largest:
    """),
    code('''
    codes = {label: gl.encode_means(gens[label].model, x).flatten(1) for label in ("AE", "sparse AE", "VAE")}
    fig, ax = plt.subplots(1, len(codes), figsize=(13, 3))
    rows = []
    for a, (label, c) in zip(ax, codes.items()):
        mag = c.abs()
        a.hist(mag.flatten().numpy(), bins=50)
        a.set(title=f"{label}: {c.shape[1]} units", xlabel="|code|", yscale="log")
        rows.append({"model": label, "units": c.shape[1], "mean abs(code)": float(mag.mean()),
                     "fraction < 5 % of max": float((mag < 0.05 * mag.max()).float().mean())})
    plt.show()
    table(rows, ["model", "units", "mean abs(code)", "fraction < 5 % of max"])
    '''),
    md("""
    ## Generation

    The VAEs sample z ~ N(0, I) and decode. Deterministic autoencoders have no prior; genlab samples them from a
    10-component Gaussian mixture fitted to their training codes after training (Ghosh et al. 2020). A single
    Gaussian would fill the gaps between the clusters of an irregular latent with codes no image has; the mixture
    follows the clusters, and on MNIST it beats the VAE's prior samples (FID 35.7 against 89.6, docs/families.md).
    Same seeds for every model:
    """),
    code('''
    panels = [(label, gl.make_grid(g.generate(32, seed=0), nrow=8)) for label, g in gens.items()]
    show_panels(panels, "samples", max_cols=5)
    '''),
    md("""
    ## The latent of the VAE vs the β-VAE

    Per latent dimension, the average KL between q(z|x) and the prior (0 = an unused dimension), the number of
    active units, and how far the aggregate posterior is from N(0, I). Larger β trades reconstruction for a latent
    closer to the prior, with fewer, more independent active dimensions.
    """),
    code('''
    reg = {label: gl.regularity(sources[label], n=N) for label in ("VAE", "β-VAE (β = 4)")}
    fig, ax = plt.subplots(1, 2, figsize=(11, 3))
    for a, (label, r) in zip(ax, reg.items()):
        kl = np.sort(np.asarray(r["kl_per_dim"]))[::-1]
        a.bar(range(len(kl)), kl)
        a.set(title=f"{label}: {r['active_units']} active units", xlabel="dimension (sorted)", ylabel="KL (nats)")
    plt.show()
    table([{"model": label, **{k: r[k] for k in ("kl_total", "active_units", "frechet_to_prior")}}
           for label, r in reg.items()], ["model", "kl_total", "active_units", "frechet_to_prior"])
    '''),
    md("""
    ## Latent projections

    Each model's codes for `N_PROJ` test images, projected to 2-D (t-SNE in full mode, PCA in tiny mode) and
    coloured by digit: a good latent groups the classes without ever having seen a label.
    """),
    code('''
    for label in MODELS:
        proj = gl.project(sources[label], method=PROJECTION, n=N_PROJ, out=FIG / f"projection-{label}.png")
        print(label)
        display(Image(filename=str(proj.path)))
    '''),
    md("""
    ## Interpolation and vector arithmetic

    Decoding points on the straight line between the codes of two test digits shows whether the latent is
    continuous (a VAE's is; an AE's may pass through codes that decode to nothing). Arithmetic: add the
    difference of two class means to codes of the first class.
    """),
    code('''
    pair = (0, 1)
    rows = [gl.interpolate(sources[label], images=pair, steps=10, method="lerp", split="test").images
            for label in ("AE", "VAE", "β-VAE (β = 4)")]
    show(torch.cat(rows), "interpolations", nrow=10, scale=3)
    print("rows: AE, VAE, β-VAE; ends are the reconstructions of test images", pair)
    a, b = 1, 7
    arith = gl.arithmetic(sources["VAE"], from_class=a, to_class=b, n=N, rows=4, scales=(0.0, 0.5, 1.0, 1.5))
    show(arith.images.flatten(0, 1), "arithmetic", nrow=arith.images.shape[1], scale=3)
    print(f"VAE: codes of class {a} + s × (mean code of {b} − mean code of {a}), s = 0, 0.5, 1, 1.5 per column")
    '''),
    md("""
    ## Anomaly detection

    Train a VAE on digits 0–8 only, then score test images of all ten classes: a 9 was never seen, so it should
    reconstruct worse. Three scores: reconstruction MSE, the negative ELBO (reconstruction + KL) and the norm of
    the latent code. The threshold flags the 5 % worst-scored *normal* images; precision, recall and F1 are for
    the 9s at that threshold; ROC AUC and average precision summarise all thresholds.
    """),
    code('''
    classes = ",".join(map(str, NORMAL))
    vae_no9 = gl.pretrained_or_train("mnist-vae-no9", "mnist-vae", [f"data.classes=[{classes}]", *TINY,
                                                                   f"run_dir={RUNS / 'mnist-vae-no9'}"],
                                     progress=FULL)
    rows, scores = [], {}
    for score in ("mse", "elbo", "latent"):
        res = gl.anomaly(vae_no9, NORMAL, n=N, score=score)
        rows.append({"score": score, **res.report.to_dict()})
    table(rows, ["score", "roc_auc", "average_precision", "precision", "recall", "f1", "num_normal",
                 "num_anomalous"], fmt=".3f")
    g = gl.load(vae_no9)
    s = gl.anomaly_scores(g.model, x, score="mse").numpy()
    is9 = ~np.isin(y.numpy(), NORMAL)
    plt.figure(figsize=(6, 3.2))
    bins = np.histogram_bin_edges(s, 40)
    plt.hist(s[~is9], bins=bins, alpha=0.6, density=True, label="digits 0-8 (trained on)")
    plt.hist(s[is9], bins=bins, alpha=0.6, density=True, label="digit 9 (anomaly)")
    plt.gca().set(xlabel="reconstruction MSE", ylabel="density", title="anomaly scores on test images")
    plt.legend()
    plt.show()
    '''),
    *sec05_families(),
    *sec05_metrics(),
    *sec05_disentangle(),
]

# ------------------------------------------------------------------------------------------- 06 diffusion beyond
# One function per part of issue 19, each returning its cells; each part's owner edits only their function.
# Shared names from the setup cells: FULL, WORK, RUNS, FIG, DATA_DIR, gen (the loaded mnist-ddpm Generator), SOURCE
# (its snapshot path), x0 / y (8 MNIST test images in model space and their labels), show / show_panels / table.


def sec06_intro() -> list:
    return [
        md(f"""
        # 06 · Diffusion beyond sampling

        The second half of the diffusion course (seed document 003) on the shipped MNIST diffusion model
        (`mnist-ddpm`): **inpainting and editing** (part 1), **latent diffusion** (part 2), a **transformer
        backbone** (DiT, part 3), **few-step distillation** (part 4), **fast CPU inference** (ONNX Runtime, int8
        quantization, bf16, `torch.compile`; part 5) and the **debugging visualisations** — attention and feature
        maps, the denoising trajectory, the per-timestep loss profile (part 6). docs/diffusion_beyond.md has the
        commands and the measured tables.

        {RENDER_NOTE}
        """),
        *header("06_diffusion_beyond", 'gl.write_toy_mnist(WORK / "data")', {"json", "time", "np", "make_grid"}),
        code('''
        PRESET, PRETRAINED = "mnist-diffusion-quick", "mnist-ddpm"  # the shipped snapshot, if this installation has it
        if FULL:
            OVERRIDES, STEPS, N_EVAL, MAX_TRAIN = [], 20, 1000, 10000
        else:
            OVERRIDES = [__TINY_UNET__, "train.batch_size=16", "train.max_steps=8",
                         "train.epoch_images=64", "train.log_every=1", "sample.num_images=8", "sample.steps=2",
                         "data.download=false"]
            STEPS, N_EVAL, MAX_TRAIN = 4, 16, None
        SOURCE = gl.pretrained_or_train(PRETRAINED, PRESET, [*OVERRIDES, f"run_dir={RUNS / PRESET}"], progress=FULL)
        gen = gl.load(SOURCE)
        x_u8, y = gl.load_dataset("mnist", "test", download=FULL).get_batch(np.arange(8))
        x0 = gen.codec.encode(x_u8)  # uint8 0..255 -> model space [-1, 1]
        print(f"model: {gen.info.family}, {gen.num_classes} classes, image shape {tuple(gen.model.image_shape)}")
        '''),
    ]


def sec06_editing() -> list:  # part 1 — owner: editing
    return [
        md("""
        ## 1. Inpainting and editing

        A trained diffusion model completes images **without retraining**: only the sampling loop changes
        (`genlab.models.diffusion.editing`, reached through `gl.inpaint` / `gl.edit` and `genlab inpaint` /
        `genlab edit`). A mask marks the region to **generate** (presets `center`, `outpaint`, `left-half`, …,
        `random-pixels:FRACTION`, `wells:COUNT`, or a .png / .npy file); the rest is **known** and kept.

        - **Replacement** (the baseline): sample as usual, and after every step overwrite the known region with the
          known image noised to the new level, q(x_s | x_known). One network call per step.
        - **RePaint** (Lugmayr et al. 2022): the same step, plus *resampling*: every `jump` levels the state is
          noised back up `jump` levels and denoised again (`resample` passes), so the generated part can agree with
          the known part instead of only seeing it through noise.
        - **SDEdit** (Meng et al. 2022): noise a whole image to the level `strength` and denoise it — a realistic
          image that keeps the input's layout (strength 0 = unchanged, 1 = a new sample).

        Both inpainting methods end by pasting the known region, so the known pixels are exact by construction;
        the error *before* that paste (the model's own last prediction) says how well the completion agrees with
        them by itself. Inpainting runs unconditionally (the null class): the known pixels alone decide the digit.
        """),
        code('''
        EDIT_STEPS, JUMP, RESAMPLE = (20, 5, 5) if FULL else (STEPS, 2, 2)
        panels, rows = [], []
        for mask in ("center", "outpaint", "random-pixels:0.8"):
            hole = gl.make_mask(mask, gen.info.sample_shape)
            masked = x_u8.clone()
            masked[hole.expand_as(masked)] = 128
            panels.append((f"{mask}: input", gl.make_grid(masked, nrow=8)))
            for method in ("replace", "repaint"):
                out = gl.inpaint(gen, x_u8, mask, method=method, steps=EDIT_STEPS, jump=JUMP, resample=RESAMPLE)
                panels.append((f"{mask}: {method} (NFE {out.nfe})", gl.make_grid(out.images, nrow=8)))
                err = out.known_error
                rows.append({"mask": mask, "method": method, "NFE": out.nfe, "s / image": out.seconds / len(x_u8),
                             "error after the paste (max)": err["pasted_max_abs"],
                             "error before it (mean)": err["unpasted_mean_abs"],
                             "error before it (max)": err["unpasted_max_abs"]})
        show_panels([("originals", gl.make_grid(x_u8, nrow=8)), *panels], "06_inpainting", max_cols=3)
        print("known pixels after the paste: exact (error 0); before it, in intensity units 0..1:")
        table(rows, ["mask", "method", "NFE", "s / image", "error after the paste (max)", "error before it (mean)",
                     "error before it (max)"])
        '''),
        code('''
        # SDEdit: the same 8 digits noised to increasing levels and denoised (DDIM), then pulled to another class
        strengths = (0.0, 0.3, 0.5, 0.7, 1.0)
        edits = [(f"strength {s}", gl.make_grid(gl.edit(gen, x_u8, strength=s, steps=EDIT_STEPS).images, nrow=8))
                 for s in strengths]
        target = (y + 1) % 10
        moved = gl.edit(gen, x_u8, strength=0.6, steps=EDIT_STEPS, labels=target.tolist(), guidance=1.5)
        edits.append(("strength 0.6 towards class y + 1", gl.make_grid(moved.images, nrow=8)))
        show_panels(edits, "06_sdedit", max_cols=3)
        same = gl.edit(gen, x_u8, strength=0.0).images
        print("strength 0 returns the input unchanged:", bool((same == x_u8).all()))
        '''),
        md("""
        Measured (`benchmarks/diffusion_editing.py`, table in docs/diffusion_beyond.md; n = 100 test images per row,
        floors at n = 100: MNIST 11.8, Fashion 8.7): RePaint beats replacement on every mask — classifier accuracy
        0.41 vs 0.33 (MNIST centre), 0.56 vs 0.27 (MNIST, 80 % random pixels generated), 0.90 vs 0.86 (Fashion
        centre; originals 0.91), 0.69 vs 0.41 (Fashion random pixels) — with the known pixels exact after the paste.
        SDEdit at strength 0.5 keeps the class (MNIST 0.99, Fashion 0.85). The same call conditions binary
        channel facies on well columns (`mask="wells:4"`): every well cell is honoured after the paste.
        """),
    ]


def sec06_latent() -> list:  # part 2 — owner: ditldm
    return [
        md("""
        ## 2. Latent diffusion

        Latent diffusion (Rombach et al. 2022) first trains an **autoencoder**, then **freezes** it and runs the
        diffusion in its latent instead of on pixels; samples are decoded at the end. Here (family
        `latent-diffusion`, presets `mnist-ldm-ae` then `mnist-ldm`) the autoencoder is a VAE with a spatial
        4×7×7 latent (196 numbers for 784 pixels, Bernoulli decoder, light KL weight β = 0.05 so its decoder reads
        slightly-off latents robustly), and the denoiser a single-resolution U-Net on the 7×7 map. The latent is
        normalised per channel (mean 0, std 1 on the first training batch), and x0 predictions are not clipped to
        [-1, 1] in latent space. `model.autoencoder` names the AE's snapshot (file, run directory or pretrained
        name); it is read once, safetensors + JSON only, and its weights are stored inside every latent-diffusion
        snapshot, so `genlab sample` / `gl.load` need nothing else.
        """),
        code('''
        if FULL:  # the README's equal-budget runs: AE 100 steps + latent U-Net 355 steps ~ the pixel U-Net's 200
            AE_OVR, LDM_OVR = ["train.max_steps=100"], ["train.max_steps=355"]
        else:
            AE_OVR = ["model.base_channels=8", "model.latent_channels=2", "train.batch_size=16", "train.max_steps=4",
                      "train.epoch_images=32", "sample.num_images=4", "data.download=false"]
            LDM_OVR = ["model.base_channels=8", "model.channel_mults=[1]", "model.num_res_blocks=1",
                       "model.num_heads=1", "train.batch_size=16", "train.max_steps=4", "train.epoch_images=32",
                       "train.warmup_steps=1", "sample.num_images=4", "sample.steps=2", "data.download=false"]
        t0 = time.process_time()
        gl.train("mnist-ldm-ae", [*AE_OVR, f"run_dir={RUNS / 'mnist-ldm-ae'}"], progress=FULL)
        gl.train("mnist-ldm", [*LDM_OVR, f"model.autoencoder={RUNS / 'mnist-ldm-ae'}",
                               f"run_dir={RUNS / 'mnist-ldm'}"], progress=FULL)
        print(f"AE + latent diffusion trained in {time.process_time() - t0:.0f} CPU-s")
        ae, ldm = gl.load(RUNS / "mnist-ldm-ae"), gl.load(RUNS / "mnist-ldm")
        print("latent shape:", tuple(ldm.model.noise_shape), "for images", tuple(ldm.model.image_shape))
        frozen = all(torch.equal(v, ldm.model.ae.state_dict()[k]) for k, v in ae.model.state_dict().items())
        print("the autoencoder inside the latent-diffusion snapshot is the frozen one:", frozen)
        '''),
        code('''
        # what the latent model can reach (the AE's reconstructions) and what it samples, at the same seeds as the
        # pixel model; NFE = 10 sampler steps x 2 (classifier-free guidance w = 1.5)
        recon = ae.codec.to_display(gl.reconstruct(ae.model, x0))
        opts = {"sampler": "dpmpp-2m", "steps": 10 if FULL else STEPS, "guidance": 1.5}
        t0 = time.perf_counter()
        latent_samples = ldm.generate(16, seed=0, **opts)
        t_latent = time.perf_counter() - t0
        t0 = time.perf_counter()
        pixel_samples = gen.generate(16, seed=0, **opts)
        t_pixel = time.perf_counter() - t0
        show_panels([("test digits", gl.make_grid(x_u8, nrow=8)), ("AE reconstructions", gl.make_grid(recon, nrow=8)),
                     (f"latent diffusion ({t_latent:.1f} s)", gl.make_grid(latent_samples, nrow=8)),
                     (f"pixel diffusion, {PRETRAINED} ({t_pixel:.1f} s)", gl.make_grid(pixel_samples, nrow=8))],
                    "06_latent", max_cols=2)
        '''),
        code('''
        # the measured comparison at equal training CPU budget (benchmarks/diffusion_latent.py, n = 1000)
        result_file = ROOT / "benchmarks" / "results" / "diffusion_latent.json"
        if result_file.exists():
            res = json.loads(result_file.read_text())
            table([{**r, "train CPU-min": r.get("train_cpu_min_with_autoencoder") or r["train_cpu_min"],
                    "img/s": r["speed"]["images_per_s"]} for r in res["rows"]],
                  ["label", "family", "train CPU-min", "train_steps", "gflop_per_network_eval", "nfe", "img/s", "fid",
                   "floor_fid", "n"])
            print("AE reconstruction FID (the latent model's ceiling):",
                  round(res["autoencoder"]["reconstruction_fid"], 2), "vs the same images unreconstructed",
                  round(res["autoencoder"]["same_images_fid"], 2), f"(n = {res['autoencoder']['n']})")
        '''),
    ]


def sec06_dit() -> list:  # part 3 — owner: ditldm
    return [
        md("""
        ## 3. A transformer backbone (DiT)

        The Diffusion Transformer (Peebles & Xie 2023; `genlab.nn.dit`, `model.backbone=dit`) replaces the U-Net
        behind the same call `net(x_t, noise_cond, labels)`: the image is cut into p×p **patches** (a conv with
        kernel = stride = p), each a token with a **position embedding** (fixed 2-D sin-cos, or learned); the time
        embedding plus the class embedding (row K = the null class of classifier-free guidance) form a condition c
        that sets, per block, the shift, scale and **gate** of both LayerNorms (**adaLN-Zero**: those layers start at
        zero, so every block starts as the identity and the untrained network outputs 0); a last modulated layer
        maps each token back to its p×p patch (**unpatchify**). One consequence the tests check: the first
        training step can only move the zero output layer, so the output starts to depend on t and the class at
        the second step. Preset `mnist-dit`: 4×4 patches (49 tokens), width 128, 6 blocks, 4 heads.
        """),
        code('''
        from torch.utils.flop_counter import FlopCounterMode

        def gflop(net, shape):
            """GFLOP of one network evaluation for one image (+ the attention products, which the CPU kernel hides)"""
            extra, sdpa = [0], torch.nn.functional.scaled_dot_product_attention
            def counted(q, k, v, *a, **kw):
                extra[0] += 4 * q.shape[:-2].numel() * q.shape[-2] * k.shape[-2] * q.shape[-1]
                return sdpa(q, k, v, *a, **kw)
            torch.nn.functional.scaled_dot_product_attention = counted
            try:
                with torch.no_grad(), FlopCounterMode(display=False) as fc:
                    net(torch.randn(1, *shape), torch.tensor([500.0]), torch.zeros(1, dtype=torch.long))
            finally:
                torch.nn.functional.scaled_dot_product_attention = sdpa
            return (fc.get_total_flops() + extra[0]) / 1e9

        DIT_OVR = (["train.max_steps=265"] if FULL else
                   ["model.dit_width=16", "model.dit_depth=1", "model.num_heads=2", "train.batch_size=16",
                    "train.max_steps=4", "train.epoch_images=32", "train.warmup_steps=1", "sample.num_images=4",
                    "sample.steps=2", "data.download=false"])
        gl.train("mnist-dit", [*DIT_OVR, f"run_dir={RUNS / 'mnist-dit'}"], progress=FULL)
        dit = gl.load(RUNS / "mnist-dit")
        rows = [{"model": name, "backbone": type(g.model.unet).__name__,
                 "parameters": sum(p.numel() for p in g.model.unet.parameters()),
                 "GFLOP / network evaluation": gflop(g.model.unet, g.model.image_shape)}
                for name, g in ((PRETRAINED, gen), ("mnist-dit", dit))]
        table(rows, ["model", "backbone", "parameters", "GFLOP / network evaluation"])
        print("DiT tokens:", dit.model.unet.grid, "patch", dit.model.unet.patch_size)
        '''),
        code('''
        steps = 10 if FULL else STEPS
        panels = [(f"{name}, dpmpp-2m {steps} steps, w = 1.5", gl.make_grid(g.generate(16, seed=0, sampler="dpmpp-2m",
                   steps=steps, guidance=1.5), nrow=8)) for name, g in ((PRETRAINED, gen), ("mnist-dit", dit))]
        show_panels(panels, "06_dit", max_cols=2)
        result_file = ROOT / "benchmarks" / "results" / "diffusion_dit.json"
        if result_file.exists():  # the equal-CPU-minutes comparison, n = 1000 (benchmarks/diffusion_dit.py)
            res = json.loads(result_file.read_text())
            table([{**r, "img/s": r["speed"]["images_per_s"]} for r in res["rows"]],
                  ["label", "backbone", "denoiser_parameters", "train_cpu_min", "train_steps", "gflop_per_network_eval",
                   "nfe", "img/s", "fid", "floor_fid", "n"])
        '''),
    ]


def sec06_distillation() -> list:  # part 4 — owner: editing
    return [
        md("""
        ## 4. Few-step generation: progressive distillation

        Progressive distillation (Salimans & Ho 2022; `genlab.models.diffusion.distill`, `gl.distill`,
        `genlab distill`): a student learns to take in **one** deterministic DDIM step what its teacher takes in
        **two**; then it becomes the teacher and the step count halves again: 8 → 4 → 2 → 1 (or from 16). The target is
        exact algebra: the x0 whose single DDIM step lands where the teacher's two steps land. The loss is the
        x0 error weighted by max(SNR, 1), which stays finite at pure noise, where the 1-step student must predict
        a digit from noise alone (hence a v-prediction student). Each stage is a normal run directory
        (`OUT/steps-N`) that `genlab sample` samples with its own step count.

            genlab distill mnist-ddpm -o runs/mnist-distill --teacher-steps 8 --student-steps 1 \\
                --iterations 300,300,400 --batch-size 32 --lr 2e-4
            genlab sample runs/mnist-distill/steps-4 -o four_steps.png
            genlab sample mnist-ddpm-1step -o one_step.png      # the shipped 1-step student
        """),
        code('''
        DISTILL = RUNS / "mnist-distill"
        if FULL:  # ~12 CPU minutes on one core (measured); stages already there are reused
            PLAN = {"teacher_steps": 8, "student_steps": 1, "iterations": [300, 300, 400], "batch_size": 32}
        else:
            PLAN = {"teacher_steps": 4, "student_steps": 1, "iterations": 2, "batch_size": 8}
        t0 = time.process_time()
        stages = gl.distill(SOURCE, DISTILL, lr=2e-4, data_dir=DATA_DIR, **PLAN)
        table([{k: r.get(k) for k in ("run_dir", "teacher_steps", "student_steps", "iterations", "first_loss",
                                      "last_loss", "cpu_seconds", "skipped")} for r in stages],
              ["teacher_steps", "student_steps", "iterations", "first_loss", "last_loss", "cpu_seconds", "skipped"])
        print(f"distillation: {(time.process_time() - t0) / 60:.1f} CPU min in this session")
        '''),
        code('''
        # the same seeds and classes: the teacher at 20 and few DDIM steps, the students at their own step count
        seeds = list(range(16))
        steps_list = [s["student_steps"] for s in stages]
        panels, rows = [], []
        for name, source, steps in [("teacher", SOURCE, 20), *[("teacher", SOURCE, s) for s in steps_list[-3:]],
                                    *[("student", DISTILL / f"steps-{s}", s) for s in steps_list[-3:]]]:
            g = gl.load(source)
            t0 = time.perf_counter()
            imgs = g.generate(seeds=seeds, labels=[s % 10 for s in seeds], sampler="ddim", steps=steps, guidance=1.0)
            dt = (time.perf_counter() - t0) / len(seeds)
            panels.append((f"{name}, {steps} DDIM steps", gl.make_grid(imgs, nrow=8)))
            fid = gl.evaluate(source, n=N_EVAL, sampler="ddim", steps=steps, guidance=1.0, data_dir=DATA_DIR,
                              max_train=MAX_TRAIN)["metrics"]
            rows.append({"model": name, "DDIM steps": steps, "FID": fid["fid"], "floor": fid["floor"]["fid"],
                         "n": N_EVAL, "label accuracy": fid.get("label_accuracy"), "ms / image": 1000 * dt})
        show_panels(panels, "06_distillation", max_cols=4)
        table(rows, ["model", "DDIM steps", "FID", "floor", "n", "label accuracy", "ms / image"])
        '''),
        md("""
        The table in docs/diffusion_beyond.md (`benchmarks/diffusion_distill.py`) compares the students with the
        teacher at 20 steps and at the same step counts. Measured (n = 1000, floor 1.53, the chain 8 → 4 → 2 → 1 with
        300/300/400 iterations, 11.9 process-CPU minutes): the teacher's FID is 6.16 at 20 DDIM steps, 6.87 at 4, 16.8
        at 2 and 207 at 1; the students' 7.57 at 4 steps (1.23× the teacher at 20: inside the 1.5× goal, though not
        better than the teacher's own 4 steps), 9.51 at 2 and 13.3 at 1 — where plain DDIM collapses, distillation
        pays off. The 1-step student ships as `mnist-ddpm-1step` (fp16, FID 13.3).
        """),
    ]


def sec06_fast_inference() -> list:  # part 5 — owner: fastinfer
    return [
        md("""
        ## 5. Fast CPU inference

        A sampler calls one network — the denoiser (x_t, noise level, class) → prediction — 10 times per image at
        the shipped model's headline setting (UniPC, 5 steps, guidance 1.5). Everything around that call (seeded
        noise, timestep grid, guidance, the sampler's update) is cheap, so inference speed is the speed of that one
        network. `gl.inference_backend` prepares it for another runtime and `gl.generate_with_backend` samples
        through it with the same seeds:

        - **onnxruntime**: the denoiser exported to ONNX (float32; checked against PyTorch within 1e-3);
        - **onnxruntime-int8-dynamic**: int8 weights, activations quantized per call;
        - **onnxruntime-int8-static**: int8 convolutions with activation ranges calibrated on the inputs the
          model's own sampler feeds the network (no dataset needed);
        - **torch-bf16**: bfloat16 autocast — this CPU has no avx512_bf16/AMX, so bf16 is emulated (slower);
        - **torch-compile**: `torch.compile` (inductor; full mode only here: its cold compile takes minutes).

        Below: how far each backend's network output is from eager fp32 on sampler-like inputs, images per second
        of one network evaluation (this notebook's process, a rough look — the measured table with FID at
        n = 1000 and the fraction of the matmul peak is in docs/diffusion_beyond.md, made by
        `benchmarks/inference_fast.py`), and the same seeds sampled by every backend.
        """),
        code('''
        NAMES = ["torch", "onnxruntime", "onnxruntime-int8-dynamic", "onnxruntime-int8-static", "torch-bf16"]
        if FULL:
            NAMES.append("torch-compile")
        cpu_gen = gl.load(SOURCE, device="cpu")  # the backends run on the CPU
        backends = {name: gl.inference_backend(cpu_gen, name, WORK / "onnx", calibration_images=16 if FULL else 4)
                    for name in NAMES}
        g = torch.Generator().manual_seed(0)
        BATCH = 64 if FULL else 16
        xt, cond = torch.randn(BATCH, 1, 28, 28, generator=g), torch.randint(0, 1000, (BATCH,), generator=g).float()
        lab = torch.randint(0, gen.num_classes + 1, (BATCH,), generator=g)
        want = backends["torch"](xt, cond, lab)
        rows = []
        for name, backend in backends.items():
            backend(xt, cond, lab)  # warm-up (torch.compile compiles here)
            t0 = time.perf_counter()
            out = backend(xt, cond, lab)
            seconds = time.perf_counter() - t0
            rows.append({"backend": name, "max abs Δ vs eager fp32": float((out - want).abs().max()),
                         "relative RMS error": float((out - want).square().mean().sqrt() / want.square().mean().sqrt()),
                         "images/s (one evaluation)": BATCH / seconds})
        table(rows, list(rows[0]), fmt=".3g")
        print("avx512_bf16 on this CPU:", "avx512_bf16" in Path("/proc/cpuinfo").read_text()
              if Path("/proc/cpuinfo").exists() else "unknown")
        '''),
        code('''
        SEEDS = 8 if FULL else 4
        opts = {"sampler": "unipc", "steps": 5, "guidance": 1.5}
        panels = [(name, gl.make_grid(gl.generate_with_backend(cpu_gen, backend, SEEDS, **opts), nrow=SEEDS))
                  for name, backend in backends.items()]
        show_panels(panels, "backends", title="the same seeds through every backend (UniPC, 5 steps, w = 1.5)",
                    max_cols=1)
        '''),
    ]


def sec06_debugging() -> list:  # part 6 — owner: fastinfer
    return [
        md("""
        ## 6. Debugging visualisations

        What the course uses to see inside a diffusion model. All of them feed the network exactly what training
        feeds it — x_t = √ᾱ_t x₀ + √(1-ᾱ_t) ε for real test images, one ε per image at every t — so they show the
        trained function, read out with forward hooks. `genlab inspect attention|features|trajectory|loss` writes
        the same pictures from the command line.

        **Attention maps.** The U-Net attends at 7×7 (middle of the network). For the centre position we show where
        it looks (mean over heads) at a very noisy, a middle and an almost clean t. The weights are recomputed from
        the layer's input with its own projections (the layer itself uses a fused kernel that never stores them).
        """),
        code('''
        TS = [900, 500, 100]
        attn = gl.attention_maps(gen, x0[:2], TS, y[:2])
        gl.save_attention_maps(attn, FIG / "attention.png", background=x0[0])
        display(Image(filename=str(FIG / "attention.png")))
        table([{"attention layer": name, "grid": f"{a.grid[0]}x{a.grid[1]}", "heads": a.weights.shape[2],
                "weights (T, N, heads, L, L)": str(tuple(a.weights.shape)),
                "entropy at t=900 / 100 (nats)": " / ".join(
                    f"{float(-(a.weights[i] * a.weights[i].clamp_min(1e-12).log()).sum(-1).mean()):.2f}"
                    for i in (0, 2))} for name, a in attn.items()],
              ["attention layer", "grid", "heads", "weights (T, N, heads, L, L)", "entropy at t=900 / 100 (nats)"])
        '''),
        md("""
        **Feature maps.** The outputs of U-Net blocks (the first channels) for one digit at the same three noise
        levels: the first block at full resolution, the bottleneck, the last block.
        """),
        code('''
        feats = gl.feature_maps(gen, x0[:1], TS, y[:1])
        names = list(feats)
        pick = {k: feats[k] for k in (names[0], names[len(names) // 2], names[-1])}
        gl.save_feature_maps(pick, TS, FIG / "features.png", channels=6)
        display(Image(filename=str(FIG / "features.png")))
        print("hooked blocks and their output shapes (T, N, C, H, W):")
        for k, v in feats.items():
            print(f"  {k:10s} {tuple(v.shape)}")
        '''),
        md("""
        **The denoising trajectory.** At each DDIM step, the state x_t the denoiser sees (top) and its prediction of
        the clean image x̂₀ (bottom): the digit's identity is decided in the first steps, the strokes later.
        """),
        code('''
        traj = gl.trajectory(gen, seeds=[0, 1, 2], sampler="ddim", steps=10 if FULL else 4)
        for i in range(3):
            gl.save_trajectory(traj, FIG / f"trajectory-{i}.png", image=i)
        display(Image(filename=str(FIG / "trajectory-0.png")))
        display(Image(filename=str(FIG / "trajectory-1.png")))
        '''),
        md("""
        **The per-timestep loss profile.** The training loss (this model predicts v, so the v-MSE) and the error
        of the implied clean image, against t, on a batch of real test images: where the model is good and where it
        is not. The x̂₀ error grows with t (less signal left); the v-loss is flat in the middle and rises at both
        ends.
        """),
        code('''
        N_LOSS = 512 if FULL else 32
        xl_u8, yl = gl.load_dataset("mnist", "test", download=FULL).get_batch(np.arange(N_LOSS))
        prof = gl.loss_profile(gen, gen.codec.encode(xl_u8), yl, num_points=50 if FULL else 8)
        gl.save_loss_profile(prof, FIG / "loss-profile.png")
        display(Image(filename=str(FIG / "loss-profile.png")))
        print(f"loss profile: {len(prof.t)} timesteps on n = {prof.n} test images")
        table([{"t": int(t), "training loss": float(l), "x̂0 MSE": float(m)}
               for t, l, m in list(zip(prof.t, prof.loss, prof.x0_mse))[:: max(1, len(prof.t) // 8)]],
              ["t", "training loss", "x̂0 MSE"])
        '''),
    ]


NB06 = [*sec06_intro(), *sec06_editing(), *sec06_latent(), *sec06_dit(), *sec06_distillation(),
        *sec06_fast_inference(), *sec06_debugging()]

NOTEBOOKS = {
    "01_images": NB01,
    "02_audio_musdb": NB02,
    "03_channels": NB03,
    "04_diffusion": NB04,
    "05_autoencoders": NB05,
    "06_diffusion_beyond": NB06,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name` without outputs, with stable cell ids (so regenerating it changes nothing)."""
    nb = new_notebook(cells=NOTEBOOKS[name])
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def text(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str]) -> int:
    unknown = [a for a in argv if a != "--check"]
    if unknown:
        asked = unknown in (["--help"], ["-h"])
        print("usage: python notebooks/build.py [--check]\n  writes notebooks/*.ipynb from this file; --check only "
              "reports the ones that differ (exit 1)", file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    check = "--check" in argv
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        new = text(name)
        if check:
            if not path.is_file() or path.read_text() != new:
                stale.append(path.name)
        else:
            path.write_text(new)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run python notebooks/build.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
