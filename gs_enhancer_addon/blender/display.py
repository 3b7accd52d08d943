"""Show a splat as Gaussians in EEVEE and Cycles, built only from Geometry Nodes and shader nodes.

A Geometry Nodes modifier ("Gaussian Display") reads the INRIA attributes (f_dc_*, opacity,
scale_*, rot_*) and puts one low-poly proxy on every Gaussian; the object's data is never changed.
Each Gaussian is cut where o * exp(-d^2 / 2) falls to 1/255, at k = sqrt(2 ln(255 o)) standard
deviations (3.33 for an opaque one, as the 3DGS rasterizer's box), the adaptive clamping of
"3D Gaussian Ray Tracing" (3DGRT; Moenne-Loccoz et al., SIGGRAPH Asia 2024). Gaussians fainter
than 1/255 everywhere get no proxy.
- Viewport: an icosphere around the k-sigma ellipsoid, rotated by the quaternion and scaled by
  k * exp(scale_i); right from any view.
- Renders (F12): a square through the centre, parallel to the scene camera's image plane and
  large enough to hold the ellipsoid's silhouette. A camera ray crosses these squares in the order
  of the centres' depths, the order in which the 3DGS rasterizer composites, and meets each
  Gaussian once.
Instance attributes carry the linear display colour, the opacity o and three axis vectors that
map the proxy's own space to the Gaussian's normalized space (where it is a unit Gaussian).

The material evaluates each Gaussian along the camera ray, as 3DGRT does. It maps the hit point
and the ray direction (Object coordinates, Incoming) to normalized space, p and unit v, and takes
the ray's closest approach d^2 = |p|^2 - (p.v)^2, where the response is largest:
alpha = min(0.999, o * exp(-d^2 / 2)), 0 below 1/255 (the rasterizer skips those). The colour is
emitted (no light needed) and mixed with Transparent by alpha. Back faces are fully transparent,
so each Gaussian counts once. Cycles composites the hits front to back (`prepare_scene_for_splats`
raises the transparent bounces); EEVEE uses dithered transparency, which converges to the same
composite over its samples.

Colour: 3DGS colours are display-referred (sRGB-encoded). The emitted colour is their
sRGB-to-linear decoding, so the "Standard" view transform encodes an opaque Gaussian back to
exactly its 3DGS colour, and over a transparent film the saved straight-alpha colour of a pixel
that one Gaussian covers is its colour. Blender blends in linear light where 3DGS blends the
encoded values, so semi-transparent mixes of different colours differ slightly. View-dependent
colour is SH degree 0 (the DC term): higher bands are not evaluated in the shader.
"""

from __future__ import annotations

import math

import bpy

from ..core.gaussians import SH_C0

MODIFIER_NAME = "Gaussian Display"
NODE_GROUP_NAME = "Gaussian Splat Display"
MATERIAL_NAME = "Gaussian Splat Display"
COLOR_ATTRIBUTE = "gs_display_color"  # instance domain: linear RGB emitted
OPACITY_ATTRIBUTE = "gs_display_opacity"  # instance domain: sigmoid(opacity)
AXIS_ATTRIBUTE = "gs_display_axis_"  # instance domain, 0..2: rows of the proxy-to-normalized-space map
DENSITY_INPUT = "Viewport Density"  # modifier input: fraction of the Gaussians shown in the viewport
ALPHA_MIN = 1.0 / 255.0  # the 3DGS rasterizer skips contributions below this
ALPHA_MAX = 0.999  # gsplat's clamp (core/render/composite.py)
ICO_INRADIUS = 0.794654472  # inscribed radius of a unit icosahedron (circumradius 1)
TRANSPARENT_BOUNCES = 256  # Cycles: one per Gaussian a ray crosses (render squares; two with icospheres)


# ------------------------------------------------------------------------------ public entry points
def add_display(obj: bpy.types.Object, density: float = 1.0) -> bpy.types.Modifier:
    """Give a splat object the Gaussian display modifier (replacing an older one); returns it."""
    modifier = obj.modifiers.get(MODIFIER_NAME)
    if modifier is None:
        modifier = obj.modifiers.new(MODIFIER_NAME, "NODES")
    modifier.node_group = display_node_group()
    set_viewport_density(obj, density)
    return modifier


def display_modifier(obj: bpy.types.Object | None) -> bpy.types.Modifier | None:
    """The object's Gaussian display modifier, or None."""
    if obj is None:
        return None
    modifier = obj.modifiers.get(MODIFIER_NAME)
    return modifier if modifier is not None and modifier.type == "NODES" else None


def _density_socket(obj: bpy.types.Object):
    """(owner, key) of the modifier's density value: an ID property named after the socket's
    identifier up to 5.1, `properties.inputs.<identifier>.value` from 5.2."""
    modifier = display_modifier(obj)
    if modifier is None:
        raise ValueError(f"'{obj.name}' has no Gaussian display.")
    identifier = modifier.node_group.interface.items_tree[DENSITY_INPUT].identifier
    properties = getattr(modifier, "properties", None)
    if properties is not None and hasattr(properties, "inputs"):
        return getattr(properties.inputs, identifier), "value"
    return modifier, identifier


def viewport_density(obj: bpy.types.Object) -> float:
    """The fraction of the Gaussians the viewport shows."""
    owner, key = _density_socket(obj)
    return float(getattr(owner, key) if key == "value" else owner[key])


def set_viewport_density(obj: bpy.types.Object, fraction: float) -> None:
    """Show about `fraction` (0-1) of the Gaussians in the viewport; final renders always show all."""
    owner, key = _density_socket(obj)
    value = float(min(max(fraction, 0.0), 1.0))
    if key == "value":
        owner.value = value
    else:
        owner[key] = value
    obj.update_tag()


def prepare_scene_for_splats(scene: bpy.types.Scene) -> None:
    """Raise Cycles' transparent bounces so deep stacks of Gaussians composite fully (never lowers)."""
    cycles = getattr(scene, "cycles", None)
    if cycles is not None and cycles.transparent_max_bounces < TRANSPARENT_BOUNCES:
        cycles.transparent_max_bounces = TRANSPARENT_BOUNCES  # counted apart from the other bounces


def eevee_engine_id() -> str:
    """BLENDER_EEVEE_NEXT on Blender 4.2-4.5, BLENDER_EEVEE from 5.0."""
    engines = bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items.keys()
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in engines else "BLENDER_EEVEE"


# ------------------------------------------------------------------------------ geometry nodes
class _Builder:
    """Small helpers that keep the node-tree code readable: one call per node."""

    def __init__(self, tree: bpy.types.NodeTree):
        self.tree, self.nodes, self.links = tree, tree.nodes, tree.links

    def node(self, kind: str, **props) -> bpy.types.Node:
        node = self.nodes.new(kind)
        for key, value in props.items():
            setattr(node, key, value)
        return node

    def link(self, output, socket) -> None:
        self.links.new(output, socket)

    def math(self, operation: str, *inputs, clamp: bool = False):
        """A Math node; inputs are sockets or numbers; returns its output socket."""
        node = self.node("ShaderNodeMath", operation=operation, use_clamp=clamp)
        for i, value in enumerate(inputs):
            self._feed(node.inputs[i], value)
        return node.outputs[0]

    def vmath(self, operation: str, *inputs):
        node = self.node("ShaderNodeVectorMath", operation=operation)
        for i, value in enumerate(inputs):
            self._feed(node.inputs[i], value)
        return node.outputs["Value" if operation in {"DOT_PRODUCT", "LENGTH"} else "Vector"]

    def _feed(self, socket, value) -> None:
        if isinstance(value, (int, float)):
            socket.default_value = value
        else:
            self.link(value, socket)

    def named_float(self, name: str):
        node = self.node("GeometryNodeInputNamedAttribute", data_type="FLOAT")
        node.inputs["Name"].default_value = name
        return node.outputs["Attribute"]

    def store(self, geometry, name: str, data_type: str, value):
        """Store Named Attribute on the points (Instance on Points carries it to the instances)."""
        node = self.node("GeometryNodeStoreNamedAttribute", data_type=data_type, domain="POINT")
        node.inputs["Name"].default_value = name
        self.link(geometry, node.inputs["Geometry"])
        self.link(value, node.inputs["Value"])
        return node.outputs["Geometry"]

    def instance(self, points, mesh, rotation, scale):
        """Instance on Points with the display material on the proxy mesh."""
        material = self.node("GeometryNodeSetMaterial")
        material.inputs["Material"].default_value = display_material()
        self.link(mesh, material.inputs["Geometry"])
        node = self.node("GeometryNodeInstanceOnPoints")
        self.link(points, node.inputs["Points"])
        self.link(material.outputs["Geometry"], node.inputs["Instance"])
        self.link(rotation, node.inputs["Rotation"])
        self.link(scale, node.inputs["Scale"])
        return node.outputs["Instances"]

    def srgb_to_linear(self, c):
        """IEC 61966-2-1 decoding of an encoded value in [0, 1]."""
        low = self.math("DIVIDE", c, 12.92)
        high = self.math("POWER", self.math("DIVIDE", self.math("ADD", c, 0.055), 1.055), 2.4)
        is_low = self.math("LESS_THAN", c, 0.04045)
        return self.math("ADD", self.math("MULTIPLY", low, is_low),
                         self.math("MULTIPLY", high, self.math("SUBTRACT", 1.0, is_low)))


# Stamped on the node group and the material this module builds. A group or material of the same
# name without this stamp (an older build's, or one a user edited) is left alone and a new one built.
LAYOUT_PROPERTY, LAYOUT_VERSION = "gse_display_layout", 1


def _ours(block) -> bool:
    return block.get(LAYOUT_PROPERTY) == LAYOUT_VERSION


def display_node_group() -> bpy.types.NodeTree:
    """The shared Geometry Nodes group (built once per file, reused by every splat object)."""
    for group in bpy.data.node_groups:
        if group.bl_idname == "GeometryNodeTree" and _ours(group):
            return group
    group = bpy.data.node_groups.new(NODE_GROUP_NAME, "GeometryNodeTree")
    try:
        _build_node_group(group)
    except Exception:  # nothing half-made is left in the file
        bpy.data.node_groups.remove(group)
        raise
    group[LAYOUT_PROPERTY] = LAYOUT_VERSION
    return group


def _build_node_group(group: bpy.types.NodeTree) -> None:
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    density = group.interface.new_socket(DENSITY_INPUT, in_out="INPUT", socket_type="NodeSocketFloat")
    density.default_value, density.min_value, density.max_value = 1.0, 0.0, 1.0
    density.subtype = "FACTOR"
    density.description = "Fraction of the Gaussians shown in the viewport; renders show them all"
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    b = _Builder(group)
    source, sink = b.node("NodeGroupInput"), b.node("NodeGroupOutput")
    opacity = b.math("DIVIDE", 1.0, b.math("ADD", 1.0, b.math("EXPONENT", b.math("MULTIPLY", b.named_float("opacity"),
                                                                                  -1.0))))
    # k = sqrt(2 ln(255 o)): where o exp(-k^2/2) = 1/255 (3DGRT's adaptive clamping)
    extent = b.math("SQRT", b.math("MAXIMUM", b.math("MULTIPLY", b.math("LOGARITHM", b.math("MULTIPLY", opacity,
                                                                                             1.0 / ALPHA_MIN),
                                                                        math.e), 2.0), 0.0))
    points = _visible_points(b, source, opacity)
    color = b.node("FunctionNodeCombineColor")
    for c, channel in enumerate(("Red", "Green", "Blue")):
        encoded = b.math("MULTIPLY_ADD", b.named_float(f"f_dc_{c}"), SH_C0, 0.5, clamp=True)
        b.link(b.srgb_to_linear(encoded), color.inputs[channel])
    points = b.store(points, COLOR_ATTRIBUTE, "FLOAT_COLOR", color.outputs[0])
    points = b.store(points, OPACITY_ATTRIBUTE, "FLOAT", opacity)

    # The Gaussian's frame: rotation from the normalized quaternion (w, x, y, z) = rot_0..3, sigmas.
    rot = [b.named_float(f"rot_{i}") for i in range(4)]
    squares = b.math("MULTIPLY", rot[0], rot[0])
    for component in rot[1:]:
        squares = b.math("ADD", squares, b.math("MULTIPLY", component, component))
    norm = b.math("SQRT", squares)
    quaternion = b.node("FunctionNodeQuaternionToRotation")
    for i, axis in enumerate("WXYZ"):
        b.link(b.math("DIVIDE", rot[i], b.math("MAXIMUM", norm, 1e-12)), quaternion.inputs[axis])
    rotation = quaternion.outputs[0]
    sigmas = [b.math("EXPONENT", b.named_float(f"scale_{i}")) for i in range(3)]

    switch = b.node("GeometryNodeSwitch", input_type="GEOMETRY")
    b.link(b.node("GeometryNodeIsViewport").outputs[0], switch.inputs["Switch"])
    b.link(_camera_facing_quads(b, points, rotation, sigmas, extent), switch.inputs["False"])
    b.link(_bounding_proxies(b, points, rotation, sigmas, extent), switch.inputs["True"])
    b.link(switch.outputs[0], sink.inputs["Geometry"])


def _visible_points(b: "_Builder", source, opacity):
    """Drop Gaussians fainter than 1/255 everywhere, and thin the viewport to the density."""
    thin = b.node("FunctionNodeRandomValue", data_type="BOOLEAN")
    b.link(b.math("SUBTRACT", 1.0, source.outputs[DENSITY_INPUT]), thin.inputs["Probability"])
    hidden = b.node("FunctionNodeBooleanMath", operation="AND")
    b.link(b.node("GeometryNodeIsViewport").outputs[0], hidden.inputs[0])
    b.link(next(o for o in thin.outputs if o.type == "BOOLEAN"), hidden.inputs[1])  # 4.2 has one output per type
    drop = b.node("FunctionNodeBooleanMath", operation="OR")
    b.link(hidden.outputs[0], drop.inputs[0])
    b.link(b.math("LESS_THAN", opacity, ALPHA_MIN), drop.inputs[1])
    delete = b.node("GeometryNodeDeleteGeometry", domain="POINT")
    b.link(source.outputs["Geometry"], delete.inputs["Geometry"])
    b.link(drop.outputs[0], delete.inputs["Selection"])
    return delete.outputs["Geometry"]


def _bounding_proxies(b: "_Builder", points, rotation, sigmas, extent):
    """Viewport: an icosphere around each Gaussian's k-sigma ellipsoid, good from any view.

    Its own space is the Gaussian's normalized space divided by k: the axes are k * identity.
    """
    ico = b.node("GeometryNodeMeshIcoSphere")
    ico.inputs["Radius"].default_value = 1.0 / ICO_INRADIUS
    ico.inputs["Subdivisions"].default_value = 1
    scale = b.node("ShaderNodeCombineXYZ")
    for i, axis in enumerate("XYZ"):
        b.link(b.math("MULTIPLY", sigmas[i], extent), scale.inputs[axis])
    for i in range(3):
        axis = b.node("ShaderNodeCombineXYZ")
        b.link(extent, axis.inputs[i])
        points = b.store(points, f"{AXIS_ATTRIBUTE}{i}", "FLOAT_VECTOR", axis.outputs[0])
    return b.instance(points, ico.outputs["Mesh"], rotation, scale.outputs[0])


def _camera_facing_quads(b: "_Builder", points, rotation, sigmas, extent):
    """Renders: a square through each Gaussian's centre, parallel to the scene camera's image plane.

    A camera ray crosses these planes in the order of the centres' depths, the order in which the
    3DGS rasterizer composites, and meets each Gaussian once. Half-size h = a L / max(z - a, a / 4),
    with a = k * max sigma, z the centre's depth along the camera axis and L its distance: the square
    holds the k-sigma ellipsoid's whole silhouette as seen from the camera. The axes map the square's
    space to the normalized space: row i = (h / sigma_i) * inverse(R_camera) (R e_i).
    """
    info = b.node("GeometryNodeObjectInfo", transform_space="RELATIVE")  # camera in the splat's space
    b.link(b.node("GeometryNodeInputActiveCamera").outputs[0], info.inputs["Object"])
    facing = info.outputs["Rotation"]
    forward = b.node("FunctionNodeRotateVector")  # the camera looks down its -Z
    forward.inputs["Vector"].default_value = (0.0, 0.0, -1.0)
    b.link(facing, forward.inputs["Rotation"])
    from_camera = b.vmath("SUBTRACT", b.node("GeometryNodeInputPosition").outputs[0], info.outputs["Location"])
    depth = b.vmath("DOT_PRODUCT", from_camera, forward.outputs[0])
    radius = b.math("MULTIPLY", extent, b.math("MAXIMUM", b.math("MAXIMUM", sigmas[0], sigmas[1]), sigmas[2]))
    half = b.math("DIVIDE", b.math("MULTIPLY", radius, b.vmath("LENGTH", from_camera)),
                  b.math("MAXIMUM", b.math("SUBTRACT", depth, radius), b.math("MULTIPLY", radius, 0.25)))
    inverse = b.node("FunctionNodeInvertRotation")
    b.link(facing, inverse.inputs[0])
    for i in range(3):
        gaussian_axis = b.node("FunctionNodeRotateVector")
        gaussian_axis.inputs["Vector"].default_value = tuple(float(i == j) for j in range(3))
        b.link(rotation, gaussian_axis.inputs["Rotation"])
        in_quad = b.node("FunctionNodeRotateVector")
        b.link(gaussian_axis.outputs[0], in_quad.inputs["Vector"])
        b.link(inverse.outputs[0], in_quad.inputs["Rotation"])
        row = b.vmath("SCALE", in_quad.outputs[0])
        b.link(b.math("DIVIDE", half, sigmas[i]), row.node.inputs["Scale"])
        points = b.store(points, f"{AXIS_ATTRIBUTE}{i}", "FLOAT_VECTOR", row)
    quad = b.node("GeometryNodeMeshGrid")
    quad.inputs["Size X"].default_value = quad.inputs["Size Y"].default_value = 2.0
    quad.inputs["Vertices X"].default_value = quad.inputs["Vertices Y"].default_value = 2
    return b.instance(points, quad.outputs["Mesh"], facing, half)


# ------------------------------------------------------------------------------ material
def display_material() -> bpy.types.Material:
    """Emission mixed with Transparent by the ray's maximum Gaussian response (see the module doc)."""
    for material in bpy.data.materials:
        if material.node_tree is not None and _ours(material):
            return material
    material = bpy.data.materials.new(MATERIAL_NAME)
    if bpy.app.version < (5, 0, 0):  # 5.0+ materials always use nodes (use_nodes is deprecated)
        material.use_nodes = True
    tree = material.node_tree
    tree.nodes.clear()
    b = _Builder(tree)

    def instancer(name: str, output: str):
        node = b.node("ShaderNodeAttribute", attribute_type="INSTANCER", attribute_name=name)
        return node.outputs[output]

    axes = [instancer(f"{AXIS_ATTRIBUTE}{i}", "Vector") for i in range(3)]
    geometry = b.node("ShaderNodeNewGeometry")
    to_object = b.node("ShaderNodeVectorTransform", vector_type="VECTOR", convert_from="WORLD", convert_to="OBJECT")
    b.link(geometry.outputs["Incoming"], to_object.inputs["Vector"])
    hit = b.node("ShaderNodeTexCoord").outputs["Object"]  # in the proxy's own space

    def normalized(vector):  # proxy space -> the Gaussian's normalized space
        combine = b.node("ShaderNodeCombineXYZ")
        for i in range(3):
            b.link(b.vmath("DOT_PRODUCT", axes[i], vector), combine.inputs[i])
        return combine.outputs[0]

    p = normalized(hit)
    v = b.vmath("NORMALIZE", normalized(to_object.outputs["Vector"]))
    along = b.vmath("DOT_PRODUCT", p, v)
    d2 = b.math("SUBTRACT", b.vmath("DOT_PRODUCT", p, p), b.math("MULTIPLY", along, along))  # closest approach
    response = b.math("MULTIPLY", instancer(OPACITY_ATTRIBUTE, "Fac"), b.math("EXPONENT", b.math("MULTIPLY", d2, -0.5)))
    alpha = b.math("MINIMUM", response, ALPHA_MAX)
    visible = b.math("MULTIPLY", b.math("GREATER_THAN", alpha, ALPHA_MIN),
                     b.math("SUBTRACT", 1.0, geometry.outputs["Backfacing"]))
    emission = b.node("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    b.link(instancer(COLOR_ATTRIBUTE, "Color"), emission.inputs["Color"])
    mix = b.node("ShaderNodeMixShader")
    b.link(b.math("MULTIPLY", alpha, visible), mix.inputs["Fac"])
    b.link(b.node("ShaderNodeBsdfTransparent").outputs[0], mix.inputs[1])
    b.link(emission.outputs[0], mix.inputs[2])
    out = b.node("ShaderNodeOutputMaterial")
    b.link(mix.outputs[0], out.inputs["Surface"])
    if hasattr(material, "surface_render_method"):  # EEVEE Next (4.2+): stochastic transparency
        material.surface_render_method = "DITHERED"
    else:  # pragma: no cover - legacy EEVEE
        material.blend_method = "HASHED"
    material.use_backface_culling = True  # EEVEE may skip back faces; the shader ignores them anyway
    material[LAYOUT_PROPERTY] = LAYOUT_VERSION  # stamped last: a half-built one is never reused
    return material
