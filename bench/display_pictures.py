"""The pictures of docs/images/: the sample splat before (point-cloud spheres) and after (Gaussian display).

before: the point cloud drawn as spheres with a Principled BSDF of the DC colour, as the add-on
        showed splats before the Gaussian display, lit by a plain world background (without light it
        renders black);
after:  the Gaussian display in Cycles (and EEVEE unless --eevee-samples 0), next to our own
        rasterizer (core.render) from the same camera, all over a transparent film on mid grey.
Run:  .venv/bin/python bench/display_pictures.py [--out docs/images] [--size 160 120] [--eevee-samples 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from gs_enhancer_addon.blender import display, scene_io  # noqa: E402
from gs_enhancer_addon.blender.camera_io import camera_from_blender, camera_to_blender  # noqa: E402
from gs_enhancer_addon.core.image_io import save_png  # noqa: E402
from gs_enhancer_addon.core.sample import SampleConfig, sample_cameras, sample_scene  # noqa: E402
from tests.blender.display_scenes import footprint_psnr, render_rgba, setup_render  # noqa: E402

GREY = 0.5


def over_grey(rgba: np.ndarray) -> np.ndarray:  # premultiplied [H, W, 4] -> [H, W, 3]
    return np.clip(rgba[..., :3] + GREY * (1 - rgba[..., 3:]), 0, 1)


def spheres_material() -> bpy.types.Material:
    """The former display: a Principled BSDF whose base colour is the DC colour attribute."""
    material = bpy.data.materials.new("Former Point Display")
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    attribute = nodes.new("ShaderNodeAttribute")
    attribute.attribute_name = "dc_color"
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    links.new(attribute.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--size", type=int, nargs=2, default=(160, 120))
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples")
    parser.add_argument("--eevee-samples", type=int, default=32, help="0: no EEVEE picture (slow on software GL)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = SampleConfig(width=args.size[0], height=args.size[1])
    scene, camera = sample_scene(config).with_sh_degree(0), sample_cameras(config)[0]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    obj = scene_io.object_from_scene(bpy.context, scene, "Sample Splat")
    bscene = bpy.context.scene
    bscene.camera = camera_to_blender(camera, bscene, set_render=True)
    folder = Path(tempfile.mkdtemp())
    setup_render(bscene, "CYCLES", args.samples, folder / "cycles.png")
    pictures = {"CYCLES": render_rgba(bscene)}
    import torch  # noqa: F401  (core.render needs it)
    from gs_enhancer_addon.core.render import render

    world = scene.transformed(np.array(obj.matrix_world))
    out = render(world.to_torch(), [camera_from_blender(bscene.camera, bscene)], sh_degree=0)
    ours = np.concatenate([out.rgb[0].numpy(), out.alpha[0].numpy()], -1)
    save_png(over_grey(pictures["CYCLES"]), args.out / "display_after_cycles.png")
    save_row(args.out, ours, pictures)
    if args.eevee_samples:  # last: slow on software GL
        setup_render(bscene, display.eevee_engine_id(), args.eevee_samples, folder / "eevee.png")
        pictures["EEVEE"] = render_rgba(bscene)
        save_row(args.out, ours, pictures)

    # before: spheres of the point cloud (modifier off), lit by a white world
    display.display_modifier(obj).show_render = False
    obj.data.materials.append(spheres_material())
    colors = np.concatenate([scene.colors(), np.ones((len(scene), 1), np.float32)], 1)
    if obj.type == "POINTCLOUD":
        obj.data.attributes.new("radius", "FLOAT", "POINT").data.foreach_set(
            "value", np.exp(scene.log_scales.mean(1)).astype(np.float32))
    obj.data.attributes.new("dc_color", "FLOAT_COLOR", "POINT").data.foreach_set("color", colors.ravel())
    bscene.world = bpy.data.worlds.new("White")
    bscene.world.color = (1.0, 1.0, 1.0)
    setup_render(bscene, "CYCLES", 16, folder / "before.png")
    save_png(over_grey(render_rgba(bscene)), args.out / "display_before.png")
    print("wrote", *sorted(p.name for p in args.out.glob("display_*.png")))


def save_row(out: Path, ours: np.ndarray, pictures: dict) -> None:
    """core.render | Cycles (| EEVEE), with each engine's PSNR against core.render printed."""
    for engine, image in pictures.items():
        print(f"{engine}: {footprint_psnr(image[..., :3], ours[..., :3], ours[..., 3]):.1f} dB vs core.render")
    row = np.concatenate([over_grey(ours), *(over_grey(image) for image in pictures.values())], 1)
    save_png(row, out / "display_vs_core_render.png")

if __name__ == "__main__":
    main()
