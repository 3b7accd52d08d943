"""Differentiable Gaussian-splatting renderer: gsplat on CUDA, the project's own torch reference elsewhere
(and on CUDA where gsplat's kernels cannot be built or loaded: `backend_notes()` then says so).

    from gs_enhancer_addon.core.render import render, RenderOutput, RenderSettings
    out = render(scene.to_torch(), cameras, features=torch.exp(log_scales))
"""

from .api import RenderOutput, render
from .gsplat_backend import backend_notes
from .settings import Backend, RenderSettings
from .sh import sh_to_rgb
from .views import render_views

__all__ = ["render", "backend_notes", "render_views", "RenderOutput", "RenderSettings", "Backend", "sh_to_rgb"]
