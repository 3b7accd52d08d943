"""The Gaussian display (blender/display.py) on the real bpy: set-up, density, toggle, KIRI mesh, and
Cycles / EEVEE renders checked against a ray-traced numpy reference (torch-free: also the 4.2 leg)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from gs_enhancer_addon.core.cameras import Camera
from gs_enhancer_addon.core.gaussians import GaussianScene
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene

from tests.blender.display_scenes import (anisotropic_scene, footprint_psnr, ray_traced_reference, render_rgba,
                                          setup_render)
from tests.builders import camera_looking_at, random_scene

bpy = pytest.importorskip("bpy")

from gs_enhancer_addon.blender import display, scene_io  # noqa: E402
from gs_enhancer_addon.blender.camera_io import camera_from_blender, camera_to_blender  # noqa: E402

def instance_count(obj) -> int:
    """Instances the (viewport) depsgraph holds for `obj`."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    return sum(1 for inst in depsgraph.object_instances if inst.is_instance and inst.parent.original == obj)


def attribute_snapshot(obj) -> dict:
    values = {}
    for attribute in obj.data.attributes:
        if attribute.data_type == "FLOAT":
            array = np.empty(len(attribute.data), dtype=np.float32)
            attribute.data.foreach_get("value", array)
            values[attribute.name] = array
    return values


def test_every_created_object_gets_the_display_and_its_data_stays_the_3dgs_attributes(bpy_empty):
    scene = random_scene(n=50, degree=1)
    obj = scene_io.object_from_scene(bpy.context, scene, "Splat")
    modifier = display.display_modifier(obj)
    assert modifier is not None and modifier.node_group.name == display.NODE_GROUP_NAME
    assert [m.name for m in obj.modifiers] == [display.MODIFIER_NAME]
    names = {n for n in obj.data.attributes.keys() if not n.startswith(".")} - {"position"}
    assert names == {n for n in scene_io.REQUIRED_ATTRIBUTES} | {f"f_rest_{i}" for i in range(9)}
    before = attribute_snapshot(obj)
    display.set_viewport_density(obj, 0.3)
    display.add_display(obj)  # idempotent: still one modifier
    bpy.context.view_layer.update()
    after = attribute_snapshot(obj)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert len(obj.modifiers) == 1
    material = display.display_material()
    assert material.surface_render_method == "DITHERED"
    assert {"ShaderNodeEmission", "ShaderNodeBsdfTransparent"} <= {n.bl_idname for n in material.node_tree.nodes}
    assert bpy.context.scene.cycles.transparent_max_bounces >= display.TRANSPARENT_BOUNCES


def test_viewport_density_thins_the_viewport_and_faint_gaussians_get_no_proxy(bpy_empty):
    scene = random_scene(n=400, degree=0)
    scene.opacity_logits[:] = 2.0
    scene.opacity_logits[:40] = -8.0  # sigmoid(-8) = 3.4e-4 < 1/255: never drawn
    obj = scene_io.object_from_scene(bpy.context, scene, "Splat")
    assert instance_count(obj) == 360
    display.set_viewport_density(obj, 0.25)
    shown = instance_count(obj)
    assert 60 <= shown <= 120, shown  # ~90 of 360 (binomial: mean 90, sd 8)
    display.set_viewport_density(obj, 0.0)
    assert instance_count(obj) == 0


def test_kiri_mesh_carries_the_inria_attribute_set(bpy_empty):
    scene = random_scene(n=30, degree=3)
    obj = scene_io.object_from_scene(bpy.context, scene, "Splat", as_mesh=True)
    assert obj.type == "MESH" and len(obj.data.vertices) == 30
    expected = ({f"f_dc_{i}" for i in range(3)} | {f"f_rest_{i}" for i in range(45)} | {"opacity"}
                | {f"scale_{i}" for i in range(3)} | {f"rot_{i}" for i in range(4)})
    floats = {a.name for a in obj.data.attributes if a.data_type == "FLOAT" and a.domain == "POINT"}
    assert floats == expected
    values = attribute_snapshot(obj)
    assert np.array_equal(values["f_rest_44"], scene.sh[:, 15, 2])  # channel-major: last blue coefficient
    assert np.array_equal(values["opacity"], scene.opacity_logits)
    assert display.display_modifier(obj) is not None  # shown as Gaussians too


def test_before_after_toggle_switches_viewport_visibility_only(addon_registered):
    source = scene_io.object_from_scene(bpy.context, random_scene(n=20, degree=0), "Source")
    result = scene_io.object_from_scene(bpy.context, random_scene(n=20, degree=0, seed=1), "Source Enhanced")
    settings = bpy.context.scene.gs_enhancer
    settings.source, settings.result = source, result
    result.hide_set(True)
    from gs_enhancer_addon.blender.panel import before_after_label

    assert before_after_label(bpy.context).startswith("Showing Before")
    assert bpy.ops.gse.toggle_before_after() == {"FINISHED"}
    assert source.hide_get() and not result.hide_get()
    assert before_after_label(bpy.context).startswith("Showing After")
    assert bpy.ops.gse.toggle_before_after() == {"FINISHED"}
    assert not source.hide_get() and result.hide_get()
    assert not source.hide_render and not source.hide_viewport  # the objects themselves are unchanged
    settings.display_density = 0.5
    assert [display.viewport_density(obj) for obj in (source, result)] == pytest.approx([0.5, 0.5])


def test_toggle_needs_a_result(addon_registered):
    settings = bpy.context.scene.gs_enhancer
    settings.source = scene_io.object_from_scene(bpy.context, random_scene(n=5, degree=0), "Source")
    assert not bpy.ops.gse.toggle_before_after.poll()


def test_a_deleted_result_is_forgotten_and_the_panel_survives_a_cleared_source(addon_registered):
    from gs_enhancer_addon.blender.operators import showing_result
    from gs_enhancer_addon.blender.props import forget_deleted_result

    settings = bpy.context.scene.gs_enhancer
    settings.source = scene_io.object_from_scene(bpy.context, random_scene(n=5, degree=0), "Source")
    result = scene_io.object_from_scene(bpy.context, random_scene(n=5, degree=0, seed=1), "Source Enhanced")
    settings.result = result
    settings.source = None
    assert showing_result(bpy.context) is False  # the sidebar draws without a source
    bpy.context.scene.collection.objects.unlink(result)  # what Delete does: no scene uses it any more
    forget_deleted_result(bpy.context.scene)  # the depsgraph handler, called as Blender would
    assert settings.result is None and result.users == 0, "nothing keeps the deleted point cloud in the file"


@dataclass
class Rendered:
    name: str
    world: GaussianScene  # the splats in world coordinates
    camera: Camera  # camera_from_blender of the Blender camera that rendered
    image: np.ndarray  # [H, W, 4] premultiplied display RGB and alpha, read back from the PNG


# (name, engine, samples): Cycles CPU everywhere; EEVEE (software GL here, ~1 s per sample) once.
RENDERS = [("anisotropic", "CYCLES", 32), ("anisotropic", "EEVEE", 64), ("overlapping", "CYCLES", 32),
           ("sample", "CYCLES", 32)]
# Measured on the 2-core dev VM (5.0.1 and 4.2.23); thresholds a few dB below.
PSNR_VS_RAY_TRACED = {"anisotropic": 38.0, "overlapping": 35.0, "sample": 30.0}
PSNR_VS_CORE_RENDER = {"anisotropic": 30.0, "overlapping": 25.0, "sample": 25.0}


def _scene_and_camera(name: str):
    if name == "sample":
        config = SampleConfig(sphere_gaussians=300, ground_gaussians=200, width=128, height=96)
        return sample_scene(config).with_sh_degree(0), sample_cameras(config)[0]
    camera = camera_looking_at((0.5, -5.0, 1.0), width=64, height=48, focal=55.0)
    if name == "overlapping":
        return anisotropic_scene(n=40, seed=1, overlap=True), camera
    return anisotropic_scene(n=16, seed=3), camera


@pytest.fixture(scope="module", params=RENDERS, ids=lambda r: f"{r[0]}-{r[1].lower()}")
def rendered(request, tmp_path_factory) -> Rendered:
    """One F12 render per scene and engine, shared by the comparisons below."""
    name, engine, samples = request.param
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene, camera = _scene_and_camera(name)
    obj = scene_io.object_from_scene(bpy.context, scene, "Splat")
    if name == "anisotropic":  # an object transform, applied by the display
        obj.location, obj.rotation_euler, obj.scale = (0.2, 0.1, -0.1), (0.3, -0.2, 0.5), (1.2, 1.2, 1.2)
    bscene = bpy.context.scene
    bscene.camera = camera_to_blender(camera, bscene, set_render=True)
    bpy.context.view_layer.update()
    engine_id = "CYCLES" if engine == "CYCLES" else display.eevee_engine_id()
    setup_render(bscene, engine_id, samples, tmp_path_factory.mktemp("render") / f"{name}.png")
    image = render_rgba(bscene)
    world = scene.transformed(np.array(obj.matrix_world))
    return Rendered(name, world, camera_from_blender(bscene.camera, bscene), image)


def test_render_matches_the_ray_traced_gaussians(rendered):
    """The display computes exactly 3DGRT's maximum response: compare with the same model in numpy."""
    reference = ray_traced_reference(rendered.world, rendered.camera)
    assert (reference[..., 3] > 0.05).mean() > 0.1  # the splat covers a good part of the view
    psnr = footprint_psnr(rendered.image[..., :3], reference[..., :3], reference[..., 3])
    print(f"{rendered.name}: {psnr:.1f} dB vs the ray-traced reference")
    assert psnr >= PSNR_VS_RAY_TRACED[rendered.name], psnr
    assert np.abs(rendered.image[..., 3] - reference[..., 3]).mean() < 0.02


@pytest.mark.needs_torch
def test_render_matches_our_rasterizer_over_the_footprint(rendered):
    """Blender (Standard view) vs core.render from the same camera, SH degree 0, over alpha > 0.05."""
    from gs_enhancer_addon.core.render import render

    out = render(rendered.world.to_torch(), [rendered.camera], sh_degree=0)
    ours, alpha = out.rgb[0].numpy(), out.alpha[0, ..., 0].numpy()
    psnr = footprint_psnr(rendered.image[..., :3], ours, alpha)
    print(f"{rendered.name}: {psnr:.1f} dB vs core.render")
    assert psnr >= PSNR_VS_CORE_RENDER[rendered.name], psnr


def test_a_foreign_group_or_material_with_our_name_is_not_reused(bpy_empty):
    """An older build's or a user's "Gaussian Splat Display" is left alone: ours is built beside it."""
    foreign_group = bpy.data.node_groups.new(display.NODE_GROUP_NAME, "GeometryNodeTree")
    foreign_material = bpy.data.materials.new(display.MATERIAL_NAME)
    obj = scene_io.object_from_scene(bpy.context, random_scene(n=5, degree=0), "Splat")
    group = display.display_modifier(obj).node_group
    assert group != foreign_group and group.get(display.LAYOUT_PROPERTY) == display.LAYOUT_VERSION
    assert display.display_material() != foreign_material
    display.set_viewport_density(obj, 0.5)  # the stale group had no density socket: this used to raise KeyError
    assert display.viewport_density(obj) == pytest.approx(0.5)
