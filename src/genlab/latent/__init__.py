"""Latent-space tools for every family with a latent (GANs, VAEs, autoencoders): interpolation, vector arithmetic,
2-D projections, anomaly scores by reconstruction error, and VAE regularity statistics."""

from genlab.latent.anomaly import (
    AnomalyReport,
    anomaly_report,
    anomaly_scores,
    reconstruction_errors,
    score_held_out_classes,
)
from genlab.latent.arithmetic import apply_vector, attribute_vector, class_means, class_transfer
from genlab.latent.encoding import decode, encode_means, encode_posterior, latents_from_seeds, reconstruct
from genlab.latent.interpolate import interpolate_images, interpolate_seeds, lerp, save_interpolation_strip, slerp
from genlab.latent.projection import available_methods, latent_projection, plot_projection, project_2d
from genlab.latent.regularity import active_units, aggregate_posterior, regularity_report, regularity_stats

__all__ = [
    "AnomalyReport", "active_units", "aggregate_posterior", "anomaly_report", "anomaly_scores", "apply_vector", "attribute_vector",
    "available_methods", "class_means", "class_transfer", "decode", "encode_means", "encode_posterior",
    "interpolate_images", "interpolate_seeds", "latent_projection", "latents_from_seeds", "lerp",
    "plot_projection", "project_2d", "reconstruct", "reconstruction_errors", "regularity_report",
    "regularity_stats", "save_interpolation_strip", "score_held_out_classes", "slerp",
]
