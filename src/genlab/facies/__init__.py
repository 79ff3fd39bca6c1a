"""Channel facies workflows (issue 5): side-by-side model comparison and ES-MDA conditioning in latent space."""

from genlab.facies.api import compare_models, esmda_demo, inpaint_demo

__all__ = ["compare_models", "esmda_demo", "inpaint_demo"]
