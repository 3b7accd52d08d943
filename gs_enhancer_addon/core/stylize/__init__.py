"""Text stylization: CLIPstyler's losses and style network, made 3D-consistent by StylizedNeRF's
2D-3D mutual learning. Only the torch-free configuration is imported here; the torch modules are
`clip_model`, `text`, `losses`, `vgg`, `network`, `trainer`, `mutual` and `components`. (Tiny
seeded models and scenes for tests live in tests/builders.py, the warp-based consistency measure
in bench/consistency.py: neither ships in the extension.)

    from .stylize.components import load_components
    from .stylize.mutual import stylize_scene
    clip, content_net = load_components(config, device)
    result = stylize_scene(scene, cameras, images, config, clip, content_net, refine_config, ...)
"""

from .config import ClipSpec, MutualConfig, StyleLossConfig, StyleNetConfig, StylizeConfig, VggSpec

__all__ = ["ClipSpec", "MutualConfig", "StyleLossConfig", "StyleNetConfig", "StylizeConfig", "VggSpec"]
