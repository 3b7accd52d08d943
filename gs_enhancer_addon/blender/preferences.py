"""Add-on preferences (Edit > Preferences > Add-ons > Splat Enhancer): where the models come from.

Nothing here imports torch: the defaults come from torch-free core modules, and the model-set
conversion imports the rest only when a job, a download or a check starts.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty

from ..core.models import DEFAULT_ENHANCER_REPO, model_cache_dir, standard_hub_cache
from ..core.stylize.config import ClipSpec, VggSpec

# The add-on's own package: "gs_enhancer_addon" in a checkout, "bl_ext.<repo>.splat_enhancer"
# once installed as an extension. Blender looks preferences up by this name.
ADDON_PACKAGE = __package__.rpartition(".")[0]

# Public defaults: the core's own (torch-free modules), never copied.
DEFAULT_ENHANCER = DEFAULT_ENHANCER_REPO
DEFAULT_CLIP_MODEL = ClipSpec().model_name
DEFAULT_CLIP_PRETRAINED = ClipSpec().pretrained
DEFAULT_VGG = VggSpec().source


def _backend_items(registry_name: str):
    """EnumProperty items of one backend registry (core/backends.py), read when the menu opens, so a
    backend registered later appears too. Blender needs the strings kept alive: _ITEMS holds them."""

    def items(_self, _context):
        from ..core import backends

        registry = getattr(backends, registry_name)
        _ITEMS[registry_name] = [(info.name, info.label, info.description) for info in registry.infos()]
        return _ITEMS[registry_name]

    return items


_ITEMS: dict[str, list] = {}
BACKEND_PROPERTIES = {"enhancer": ("enhancer_backend", "ENHANCERS"), "stylizer": ("stylizer_backend", "STYLIZERS")}


class GSE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    enhancer_backend: EnumProperty(name="Enhancer", description="How the rendered views are restored",
                                   items=_backend_items("ENHANCERS"))
    stylizer_backend: EnumProperty(name="Stylizer", description="How the style text is applied",
                                   items=_backend_items("STYLIZERS"))

    model_set: EnumProperty(
        name="Models",
        description="Which models the enhancement uses",
        items=(
            ("PRETRAINED", "Real Weights", "The sources below (hub ids or local folders)"),
            ("SMALL", "Small Trained Set", "Built-in enhancer trained on small synthetic scenes (128 x 96 px): "
                                           "offline; improves splats like those, not real captures at full size"),
            ("TINY", "Tiny Test Models", "Built-in untrained models: runs offline and fast, does not improve images"),
        ),
        default="PRETRAINED",
    )
    enhancer_source: StringProperty(
        name="Enhancer",
        description="Hub repo id or local folder (diffusers layout: unet/, vae/, image_encoder/, scheduler/ ...)",
        default=DEFAULT_ENHANCER,
    )
    unet_source: StringProperty(
        name="Fine-tuned UNet", description="Optional folder of a fine-tuned UNet (train-enhancer output)",
        subtype="DIR_PATH", default="",
    )
    decoder_source: StringProperty(
        name="Spatial-Temporal Decoder", description="Optional folder of a trained decoder (train-decoder output)",
        subtype="DIR_PATH", default="",
    )
    clip_model: StringProperty(
        name="CLIP Model", description="open_clip architecture name, local folder, or hf-hub:org/name",
        default=DEFAULT_CLIP_MODEL,
    )
    clip_pretrained: StringProperty(
        name="CLIP Weights", description="open_clip pretrained tag or weights file", default=DEFAULT_CLIP_PRETRAINED,
    )
    vgg_source: StringProperty(
        name="VGG-19", description="Hub id, folder or weights file for the stylization content loss", default=DEFAULT_VGG,
    )
    hub_token: StringProperty(
        name="Hub Token", description="Access token for gated models (Stable Video Diffusion is gated)",
        subtype="PASSWORD", default="",
    )
    cache_dir: StringProperty(
        name="Model Cache", description="Where downloaded models are kept (empty: the extension's user folder). "
        "The standard Hugging Face cache is always searched too, and used when it holds a model",
        subtype="DIR_PATH", default="",
    )
    models_found: StringProperty(
        name="Models Found", description="Where each model was found by the last Check Models (one per line)",
        default="", options={"HIDDEN", "SKIP_SAVE"},
    )

    def draw(self, context):
        draw_preferences(self.layout, self)


def draw_preferences(layout, prefs) -> None:
    from ..core import backends

    layout.prop(prefs, "model_set")
    column = layout.column()
    column.active = prefs.model_set == "PRETRAINED"
    for prop, registry_name in BACKEND_PROPERTIES.values():
        column.prop(prefs, prop)
        info = next((i for i in getattr(backends, registry_name).infos() if i.name == getattr(prefs, prop)), None)
        for name in info.settings if info is not None else ():  # the backend's own settings (its hook)
            column.prop(prefs, name)
    column.prop(prefs, "hub_token")
    layout.prop(prefs, "cache_dir")
    for line in cache_lines(prefs):
        layout.label(text=line)
    row = layout.row()
    row.operator("gse.download_models", icon="IMPORT")
    row.operator("gse.check_models", icon="VIEWZOOM")
    row.operator("gse.release_models", icon="TRASH")
    for line in prefs.models_found.splitlines():
        layout.label(text=line, icon="CHECKMARK" if ": not " not in line else "ERROR")
    if not bpy.app.online_access:
        layout.label(text="Online access is off (Preferences > System > Network): downloads are disabled.", icon="INFO")


def get_preferences(context: bpy.types.Context) -> GSE_AP_preferences | None:
    """The preferences, or None when the add-on is registered without being enabled (tests)."""
    addon = context.preferences.addons.get(ADDON_PACKAGE)
    return addon.preferences if addon else None


def model_cache_path(prefs, create: bool = True) -> Path | None:
    """The cache folder: the user's choice, else the extension's user folder; None when neither
    applies (registered from a checkout): core's default then ($GS_ENHANCER_MODEL_CACHE or the
    Hugging Face cache)."""
    if prefs is not None and prefs.cache_dir:
        return Path(bpy.path.abspath(prefs.cache_dir))
    try:
        return Path(bpy.utils.extension_path_user(ADDON_PACKAGE, path="models", create=create))
    except (ValueError, AttributeError):  # not installed as an extension
        return None


def backend_choices(prefs) -> dict[str, str]:
    """Preferences -> the JobConfig fields naming the backends (None prefs: the defaults)."""
    if prefs is None:
        return {}
    return {kind: getattr(prefs, prop) for kind, (prop, _registry) in BACKEND_PROPERTIES.items() if getattr(prefs, prop)}


def cache_lines(prefs) -> list[str]:
    """The caches in words: where downloads go, and the standard cache that is searched too."""
    downloads = model_cache_dir(model_cache_path(prefs, create=False))
    lines = [f"Downloads go to: {downloads}"]
    if downloads != standard_hub_cache():
        lines.append(f"Also searched for models already there: {standard_hub_cache()}")
    return lines


def models_config(prefs):
    """Preferences -> core.model_set.ModelsConfig (None prefs: the tiny set, as in tests)."""
    from ..core.enhance.config import EnhancerSources
    from ..core.model_set import ModelsConfig
    from ..core.models import ModelSource

    if prefs is None:  # registered without being enabled (tests): the tiny set, default cache
        return ModelsConfig(tiny=True)
    cache_dir = model_cache_path(prefs)
    if prefs.model_set == "TINY":
        return ModelsConfig(tiny=True, cache_dir=cache_dir)
    if prefs.model_set == "SMALL":  # the style models are not part of it: the sources below
        small = ModelsConfig.small(cache_dir=cache_dir)
        small.clip = ClipSpec(model_name=prefs.clip_model, pretrained=prefs.clip_pretrained)
        small.vgg, small.offline = VggSpec(source=prefs.vgg_source), not bpy.app.online_access
        return small
    token = prefs.hub_token or None
    optional = lambda path: ModelSource(bpy.path.abspath(path), token=token) if path else None  # noqa: E731
    enhancer = EnhancerSources(base=ModelSource(prefs.enhancer_source, token=token),
                               unet=optional(prefs.unet_source), decoder=optional(prefs.decoder_source))
    return ModelsConfig(tiny=False, enhancer=enhancer,
                        clip=ClipSpec(model_name=prefs.clip_model, pretrained=prefs.clip_pretrained),
                        vgg=VggSpec(source=prefs.vgg_source), offline=not bpy.app.online_access,
                        cache_dir=cache_dir)


def check_models(prefs) -> list[str]:
    """Where each configured model is now (which cache, a local folder, or what is missing), as
    lines for the preferences; looks at files only: no network, no loading."""
    return model_lines(models_config(prefs))


def model_lines(models) -> list[str]:
    """check_models' lines for an already built ModelsConfig (touches no bpy: safe in a worker thread)."""
    return [location.describe() for location in models.locate()]


CLASSES = (GSE_AP_preferences,)
