"""genlab's public API: the CLI, the web UI and the notebooks all call these names, and only these.

    import genlab.api as gl
    result = gl.train("mnist-diffusion-quick", ["train.time_limit_min=2"])
    model = gl.load(result.run_dir)
    images = model.generate(16, seed=0, labels=3, sampler="dpmpp-2m", steps=20)   # uint8 (16, 1, 28, 28)
    gl.save_grid(images, "grid.png")

This module defines nothing: every name is re-exported from the module that owns it (the loading core is
`genlab.inference`; training `genlab.training_api`; measuring `genlab.evaluation`; latent tools `genlab.latent_api`;
audio `genlab.audio.api`; facies `genlab.facies`). Nothing below imports it.
"""

from __future__ import annotations

from genlab import __version__
from genlab.ae_metrics_api import (  # IWAE nats, one-class AD, probe
    binarize_seeded,
    check_importance_samples,
    frozen_codes,
    gives_importance_weights,
    iwae_likelihood,
    iwae_nll,
    linear_probe,
    one_class_anomaly,
    probe,
)
from genlab.audio.api import PHASES as AUDIO_PHASES  # audio: MUSDB stems
from genlab.audio.api import evaluate_audio, load_audio_model, musdb_track_names, regenerate, regenerate_wave
from genlab.audio.api import load_input as load_audio_input
from genlab.audio.evaluation import baseline_estimates
from genlab.audio.io import SAMPLE_RATE_HZ, wav_info, write_wav
from genlab.audio.listen import listening_page  # issue 17: original / vocoder / Griffin-Lim / oracle players
from genlab.audio.musdb import TARGETS as AUDIO_STEMS
from genlab.audio.sampling import vocode  # a vocoder's own waveform from its log-mel
from genlab.audio.transforms import MelSpectrogram, Stft
from genlab.config import RunConfig, preset_info
from genlab.data.registry import dataset_names, load_dataset
from genlab.data.sources.channels import write_channels_h5
from genlab.data.toy import write_toy_mnist, write_toy_musdb  # tiny stand-in datasets in the real formats
from genlab.device import pick_device, set_threads
from genlab.diffusion_tools import (  # looking inside diffusion models (notebook 04)
    Trajectory,
    denoising_error,
    forward_chain,
    forward_process,
    interpolate_noise,
    schedule_curves,
    trajectory,
)
from genlab.distill_api import distill  # few-step students by progressive distillation (issue 19)
from genlab.editing_api import edit, inpaint, inpaint_display, make_mask, read_images, real_images  # issue 19
from genlab.errors import GenlabError
from genlab.evaluation import METRICS_FILE, check_evaluate_request, evaluate, evaluate_run, fid_vs_steps
from genlab.export import QUANTIZATIONS  # int8 ONNX quantizations (issue 19 part 5)
from genlab.export import export_snapshot as export  # ONNX / torch.export of the sampling network
from genlab.facies import compare_models, esmda_demo, inpaint_demo
from genlab.facies import report as facies_report  # comparison/ES-MDA tables as markdown
from genlab.facies.evaluation import model_summary
from genlab.fast_inference import BACKENDS as INFERENCE_BACKENDS  # the denoiser run by onnxruntime, int8, bf16
from genlab.fast_inference import check_inference_backend, generate_with_backend, inference_backend
from genlab.inference import (
    MAX_SEED,
    Generator,
    LoadedModel,
    SnapshotHeader,
    find_snapshot,
    load,
    read_snapshot_header,
    snapshot_info,
)
from genlab.inference import raw_header as read_header  # the raw JSON header (file, run directory, pretrained)
from genlab.inspection import (  # debugging visualisations of a diffusion model (issue 19 part 6)
    attention_maps,
    feature_maps,
    loss_profile,
    save_attention_maps,
    save_feature_maps,
    save_loss_profile,
    save_trajectory,
)
from genlab.latent import anomaly_scores, encode_means, reconstruct  # latent tools on a loaded model
from genlab.latent_api import anomaly, arithmetic, fit_density, interpolate, project, regularity  # latent tools
from genlab.latent_explore_api import disentanglement, explore, explorer_basis, latent_codes, traverse  # issue 20
from genlab.metrics.audio import compare_audio
from genlab.metrics.image import FLOOR_DRAWS, floor_text  # the floor: median FID of FLOOR_DRAWS draws (issue 15)
from genlab.metrics.inception import load_inception
from genlab.models.autoencoder.regularizers import corrupt  # the DAE's input corruptions
from genlab.models.base import Capabilities
from genlab.models.diffusion.objective import (  # "LO,HI" -> (lo, hi), one-line errors; "none" = no autoguide
    autoguide_off,
    check_guidance_interval,
)
from genlab.models.diffusion.samplers import SAMPLER_NAMES as SAMPLERS
from genlab.models.registry import family_capabilities, family_names
from genlab.pretrained_api import (
    pretrained_headline,
    pretrained_headline_text,
    pretrained_manifest,
    pretrained_names,
    pretrained_or_train,
    resolve_pretrained,
)
from genlab.report.html import report
from genlab.report.model_card import model_card, write_model_card
from genlab.score_api import classify, likelihood, train_classifier  # PF-ODE bits/dim; classifier guidance
from genlab.training_api import TrainResult, presets, resolve_config, train
from genlab.viz import make_grid, save_grid, side_by_side

__all__ = [
    "AUDIO_PHASES",
    "AUDIO_STEMS",
    "FLOOR_DRAWS",
    "INFERENCE_BACKENDS",
    "MAX_SEED",
    "METRICS_FILE",
    "QUANTIZATIONS",
    "SAMPLERS",
    "SAMPLE_RATE_HZ",
    "Capabilities",
    "Generator",
    "GenlabError",
    "LoadedModel",
    "MelSpectrogram",
    "RunConfig",
    "SnapshotHeader",
    "Stft",
    "TrainResult",
    "Trajectory",
    "__version__",
    "anomaly",
    "anomaly_scores",
    "arithmetic",
    "attention_maps",
    "autoguide_off",
    "baseline_estimates",
    "binarize_seeded",
    "check_evaluate_request",
    "check_guidance_interval",
    "check_importance_samples",
    "check_inference_backend",
    "classify",
    "compare_audio",
    "compare_models",
    "corrupt",
    "dataset_names",
    "denoising_error",
    "disentanglement",
    "distill",
    "edit",
    "encode_means",
    "esmda_demo",
    "evaluate",
    "evaluate_audio",
    "evaluate_run",
    "explore",
    "explorer_basis",
    "export",
    "facies_report",
    "family_capabilities",
    "family_names",
    "feature_maps",
    "fid_vs_steps",
    "find_snapshot",
    "fit_density",
    "floor_text",
    "forward_chain",
    "forward_process",
    "frozen_codes",
    "generate_with_backend",
    "gives_importance_weights",
    "inference_backend",
    "inpaint",
    "inpaint_demo",
    "inpaint_display",
    "interpolate",
    "interpolate_noise",
    "iwae_likelihood",
    "iwae_nll",
    "latent_codes",
    "likelihood",
    "linear_probe",
    "listening_page",
    "load",
    "load_audio_input",
    "load_audio_model",
    "load_dataset",
    "load_inception",
    "loss_profile",
    "make_grid",
    "make_mask",
    "model_card",
    "model_summary",
    "musdb_track_names",
    "one_class_anomaly",
    "pick_device",
    "preset_info",
    "presets",
    "pretrained_headline",
    "pretrained_headline_text",
    "pretrained_manifest",
    "pretrained_names",
    "pretrained_or_train",
    "probe",
    "project",
    "read_header",
    "read_images",
    "read_snapshot_header",
    "real_images",
    "reconstruct",
    "regenerate",
    "regenerate_wave",
    "regularity",
    "report",
    "resolve_config",
    "resolve_pretrained",
    "save_attention_maps",
    "save_feature_maps",
    "save_grid",
    "save_loss_profile",
    "save_trajectory",
    "schedule_curves",
    "set_threads",
    "side_by_side",
    "snapshot_info",
    "train",
    "train_classifier",
    "trajectory",
    "traverse",
    "vocode",
    "wav_info",
    "write_channels_h5",
    "write_model_card",
    "write_toy_mnist",
    "write_toy_musdb",
    "write_wav",
]
