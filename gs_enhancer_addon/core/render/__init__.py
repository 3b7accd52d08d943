"""Differentiable Gaussian-splatting renderer: gsplat on CUDA, the project's own torch reference elsewhere.

    from gs_enhancer_addon.core.render import render, RenderOutput, RenderSettings
    out = render(scene.to_torch(), cameras, features=torch.exp(log_scales))
"""

from .api import RenderOutput, render
from .settings import Backend, RenderSettings
from .sh import sh_to_rgb
from .views import render_views

__all__ = ["render", "render_views", "RenderOutput", "RenderSettings", "Backend", "sh_to_rgb"]
