"""The Quality menu shows the core's preset numbers (core.job PRESET_*), not copies of them."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy")


def test_quality_menu_tooltips_show_the_core_preset_numbers(addon_registered):
    from gs_enhancer_addon.core.job_config import PRESET_REFINE_ITERATIONS, PRESET_STEPS, PRESET_VIEWS_PER_SEGMENT

    settings = bpy.context.scene.gs_enhancer
    items = {item.identifier: item for item in settings.bl_rna.properties["preset"].enum_items}
    assert set(items) == {name.upper() for name in PRESET_STEPS}
    for name in PRESET_STEPS:
        text = items[name.upper()].description
        assert f"{PRESET_STEPS[name]} diffusion steps" in text, text
        assert f"{PRESET_VIEWS_PER_SEGMENT[name]} views per segment" in text, text
        assert f"{PRESET_REFINE_ITERATIONS[name]} fine-tuning iterations" in text, text
    default = settings.bl_rna.properties["preset"].default.lower()
    assert settings.bl_rna.properties["views_per_segment"].default == PRESET_VIEWS_PER_SEGMENT[default]
