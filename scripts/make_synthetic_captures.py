"""Synthetic captures with known truth, rendered by Blender itself (bpy, Cycles on the CPU).

    python scripts/make_synthetic_captures.py --out data/synthetic --scenes 25 --seed 0
           [--first 0] [--views 48] [--width 128] [--height 96] [--samples 32] [--threads 1] [--no-denoise]

Each scene is procedural and seeded (scene k uses seed + k, so any scene can be regenerated on its
own): textured objects (cubes, spheres, cylinders, cones, tori) on a large textured ground plane,
lit by a sun, one or two point/area lights of random colour and strength, and a dim world light
that the camera itself does not see (the background is black, as our splat renderer's). The
camera moves along a smooth orbit (random radius, height wave, arc of 250-360 degrees) looking
near the scene centre, and renders `--views` photos, denoised by OpenImageDenoise unless
--no-denoise.

Written per scene (the capture format `make-pairs` reads; the data is not committed):
    <out>/scene_000/images/000.png ...
    <out>/scene_000/transforms.json   nerfstudio convention: camera-to-world `transform_matrix`
                                      (Blender/OpenGL camera axes), fl_x fl_y cx cy w h in pixels
    <out>/scene_000/truth.json        seed, objects (type, centre, size), lights, and every object
                                      centre projected by Blender's own `world_to_camera_view`
                                      into every view (pixels, top-left origin): a check for any
                                      camera reader
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

SHAPES = ("cube", "uv_sphere", "cylinder", "cone", "torus")
TEXTURES = ("checker", "noise", "voronoi", "wave", "brick")


def _random_colour(rng: np.random.Generator) -> tuple[float, float, float, float]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.95))
    return (r, g, b, 1.0)


def _textured_material(bpy, name: str, rng: np.random.Generator, scale: float):
    """Principled BSDF whose base colour mixes two random colours by a random procedural texture."""
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # Blender 4.x; 5.x materials always have nodes (use_nodes is deprecated)
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes.get("Principled BSDF")
    kind = TEXTURES[rng.integers(len(TEXTURES))]
    tex = nodes.new({"checker": "ShaderNodeTexChecker", "noise": "ShaderNodeTexNoise",
                     "voronoi": "ShaderNodeTexVoronoi", "wave": "ShaderNodeTexWave",
                     "brick": "ShaderNodeTexBrick"}[kind])
    tex.inputs["Scale"].default_value = scale * rng.uniform(0.6, 1.6)
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = _random_colour(rng)
    ramp.color_ramp.elements[1].color = _random_colour(rng)
    factor = tex.outputs["Fac"] if "Fac" in tex.outputs else tex.outputs["Distance"]
    links.new(factor, ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = rng.uniform(0.3, 0.9)
    return mat


def _add_object(bpy, shape: str, location, size: float, rotation_z: float):
    ops = bpy.ops.mesh
    if shape == "cube":
        ops.primitive_cube_add(size=size, location=location)
    elif shape == "uv_sphere":
        ops.primitive_uv_sphere_add(radius=size / 2, location=location, segments=24, ring_count=12)
    elif shape == "cylinder":
        ops.primitive_cylinder_add(radius=size / 2, depth=size, location=location, vertices=24)
    elif shape == "cone":
        ops.primitive_cone_add(radius1=size / 2, depth=size, location=location, vertices=24)
    else:
        ops.primitive_torus_add(major_radius=size / 2, minor_radius=size / 6, location=location)
    obj = bpy.context.active_object
    obj.rotation_euler[2] = rotation_z
    return obj


def _world(bpy, rng: np.random.Generator) -> None:
    """Dim ambient light that camera rays do not see: a black background."""
    world = bpy.data.worlds.new("World")
    bpy.context.scene.world = world
    if world.node_tree is None:
        world.use_nodes = True
    nodes, links = world.node_tree.nodes, world.node_tree.links
    background = nodes.get("Background")
    background.inputs["Color"].default_value = (*_random_colour(rng)[:3], 1.0)
    background.inputs["Strength"].default_value = rng.uniform(0.05, 0.35)
    black = nodes.new("ShaderNodeBackground")
    black.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    path, mix = nodes.new("ShaderNodeLightPath"), nodes.new("ShaderNodeMixShader")
    links.new(path.outputs["Is Camera Ray"], mix.inputs["Fac"])
    links.new(background.outputs["Background"], mix.inputs[1])
    links.new(black.outputs["Background"], mix.inputs[2])
    links.new(mix.outputs["Shader"], nodes.get("World Output").inputs["Surface"])


def _lights(bpy, rng: np.random.Generator) -> list[dict]:
    lights = []
    sun = bpy.data.lights.new("Sun", "SUN")
    sun.energy = rng.uniform(0.8, 3.0)
    sun.color = _random_colour(rng)[:3] if rng.random() < 0.5 else (1.0, 0.97, 0.9)
    obj = bpy.data.objects.new("Sun", sun)
    obj.rotation_euler = (rng.uniform(0.1, 1.0), 0.0, rng.uniform(0, 2 * math.pi))
    bpy.context.scene.collection.objects.link(obj)
    lights.append({"type": "SUN", "energy": sun.energy, "rotation": list(obj.rotation_euler)})
    for i in range(int(rng.integers(1, 3))):
        kind = "POINT" if rng.random() < 0.5 else "AREA"
        light = bpy.data.lights.new(f"Light{i}", kind)
        light.energy = rng.uniform(100, 500)
        light.color = _random_colour(rng)[:3]
        obj = bpy.data.objects.new(f"Light{i}", light)
        angle = rng.uniform(0, 2 * math.pi)
        obj.location = (3.5 * math.cos(angle), 3.5 * math.sin(angle), rng.uniform(2.5, 5.0))
        bpy.context.scene.collection.objects.link(obj)
        lights.append({"type": kind, "energy": light.energy, "location": list(obj.location)})
    return lights


def _orbit(rng: np.random.Generator, views: int) -> tuple[np.ndarray, np.ndarray]:
    """Camera centres [V, 3] on a smooth orbit and the points [V, 3] they look at."""
    radius, height = rng.uniform(4.5, 6.5), rng.uniform(1.5, 3.0)
    start, arc = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(250, 360))
    t = np.linspace(0.0, 1.0, views, endpoint=arc < 2 * math.pi - 1e-6)
    angle = start + arc * t
    wave = height + 0.6 * np.sin(2 * math.pi * t * rng.uniform(1.0, 2.0) + rng.uniform(0, 2 * math.pi))
    centres = np.stack([radius * np.cos(angle), radius * np.sin(angle), wave], axis=1)
    targets = np.zeros_like(centres) + (0.0, 0.0, 0.5) + rng.normal(0, 0.15, size=(1, 3))
    return centres, targets


def _aim(camera_obj, centre, target) -> None:
    from mathutils import Vector

    camera_obj.location = Vector(centre)
    camera_obj.rotation_euler = (Vector(target) - Vector(centre)).to_track_quat("-Z", "Y").to_euler()


def generate_scene(out: Path, seed: int, views: int, width: int, height: int, samples: int, threads: int,
                   denoise: bool = True) -> Path:
    """Build, render and write one scene (module doc); returns its folder."""
    import bpy
    from bpy_extras.object_utils import world_to_camera_view

    rng = np.random.default_rng(seed)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = denoise  # OpenImageDenoise: clean targets at few samples
    if denoise:
        scene.cycles.denoiser = "OPENIMAGEDENOISE"
    scene.render.threads_mode, scene.render.threads = "FIXED", threads
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.view_settings.view_transform = "Standard"

    bpy.ops.mesh.primitive_plane_add(size=30.0, location=(0, 0, 0))
    ground = bpy.context.active_object
    ground.data.materials.append(_textured_material(bpy, "Ground", rng, scale=3.0))
    objects = []
    for k in range(int(rng.integers(3, 7))):
        shape, size = SHAPES[rng.integers(len(SHAPES))], rng.uniform(0.5, 1.3)
        r, a = 1.8 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        centre = (r * math.cos(a), r * math.sin(a), size / 2)
        obj = _add_object(bpy, shape, centre, size, rng.uniform(0, 2 * math.pi))
        obj.data.materials.append(_textured_material(bpy, f"Object{k}", rng, scale=rng.uniform(2.0, 8.0)))
        objects.append({"name": obj.name, "shape": shape, "centre": list(centre), "size": size})
    _world(bpy, rng)
    lights = _lights(bpy, rng)

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.lens, cam_data.sensor_width, cam_data.sensor_fit = 35.0, 36.0, "HORIZONTAL"
    camera = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    focal = cam_data.lens / cam_data.sensor_width * width  # pixels (square pixels, horizontal fit)

    folder = out / f"scene_{seed:03d}"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    frames, projected = [], []
    centres, targets = _orbit(rng, views)
    for v, (centre, target) in enumerate(zip(centres, targets)):
        _aim(camera, centre, target)
        bpy.context.view_layer.update()
        scene.render.filepath = str(folder / "images" / f"{v:03d}.png")
        bpy.ops.render.render(write_still=True)
        frames.append({"file_path": f"images/{v:03d}.png",
                       "transform_matrix": [list(row) for row in camera.matrix_world]})
        from mathutils import Vector

        ndc = [world_to_camera_view(scene, camera, Vector(o["centre"])) for o in objects]
        projected.append([[p.x * width, (1.0 - p.y) * height, p.z] for p in ndc])
    transforms = {"camera_model": "OPENCV", "fl_x": focal, "fl_y": focal, "cx": width / 2, "cy": height / 2,
                  "w": width, "h": height, "frames": frames}
    (folder / "transforms.json").write_text(json.dumps(transforms, indent=1))
    truth = {"seed": seed, "objects": objects, "lights": lights, "samples": samples,
             "projected_centres": projected}  # [view][object] = (u px, v px, depth) by Blender
    (folder / "truth.json").write_text(json.dumps(truth, indent=1))
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scenes", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0, help="scene k uses seed + k")
    parser.add_argument("--first", type=int, default=0, help="index of the first scene (to continue a set)")
    parser.add_argument("--views", type=int, default=48)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="Cycles CPU threads (the machine is shared)")
    parser.add_argument("--no-denoise", dest="denoise", action="store_false", help="keep Cycles' sampling noise")
    args = parser.parse_args(argv)
    if args.views < 3 or min(args.width, args.height) < 8 or args.samples < 1:
        parser.error("need --views >= 3, an image of at least 8 px, --samples >= 1")
    for k in range(args.first, args.first + args.scenes):
        t0 = time.perf_counter()
        folder = generate_scene(args.out, args.seed + k, args.views, args.width, args.height, args.samples,
                                args.threads, args.denoise)
        print(f"{folder}: {args.views} views in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
