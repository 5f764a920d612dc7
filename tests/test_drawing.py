"""Pictures of the graph: what they contain, that they are valid and legible SVG,
and that big graphs and a missing Graphviz are reported clearly (chapter "Pictures of the graph")."""

import itertools
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import edugrad
from edugrad import Operation, Tensor, ops, tensor_op
from edugrad.drawing import draw_graph

from conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"


def parse(picture):
    return ElementTree.fromstring(picture.svg)


def texts(root):
    return [element.text for element in root.iter(SVG + "text")]


def tensor_boxes(root):
    """The rectangles of the tensors' boxes (the first rect is the background)."""
    return list(root.iter(SVG + "rect"))[1:]


def one_neuron_loss():
    x = Tensor([[1.0, 2.0], [0.5, -1.0]], name="x", requires_grad=False)
    target = Tensor([[1.0], [0.0]], name="target", requires_grad=False)
    weight = Tensor([[0.5], [-0.25]], name="weight")
    bias = Tensor([0.1], name="bias")
    loss = ops.mse_loss(ops.relu(ops.add(ops.matmul(x, weight), bias)), target)
    return loss, (x, target, weight, bias)


def mlp_loss():
    np.random.seed(0)
    layers = [edugrad.nn.Linear(10, 32), edugrad.nn.Linear(32, 32), edugrad.nn.Linear(32, 1)]
    hidden = Tensor(np.random.rand(64, 10), name="x", requires_grad=False)
    for i, layer in enumerate(layers):
        hidden = layer(hidden)
        if i < 2:
            hidden = ops.relu(hidden)
    return ops.mse_loss(hidden, Tensor(np.zeros((64, 1)), name="y", requires_grad=False))


def all_tensors(tensor):
    edges = tensor.get_graph_above()
    return list(dict.fromkeys([tensor] + [t for edge in edges for t in edge]))


# -- what the picture contains -------------------------------------------------------


def test_every_operation_and_tensor_appears_with_its_shape_and_every_edge_once():
    loss, leaves = one_neuron_loss()
    root = parse(draw_graph(loss))
    lines = texts(root)
    for name in ["x", "target", "weight", "bias", "matmul", "add", "relu", "mse_loss"]:
        assert name in lines, name
    for shape in ["shape (2, 2)", "shape (2, 1)", "shape (1,)", "shape ()"]:
        assert shape in lines, shape
    edges = loss.get_graph_above()
    assert len(list(root.iter(SVG + "path"))) == len(edges)
    assert len(list(root.iter(SVG + "polygon"))) == len(edges)  # one arrowhead each
    assert len(tensor_boxes(root)) == len(all_tensors(loss))


def test_an_input_used_twice_gets_two_arrows_that_land_apart():
    a = Tensor([1.0, 2.0], name="a")
    root = parse(draw_graph(ops.reduce_sum(ops.add(a, a))))
    arrowheads = [polygon.get("points") for polygon in root.iter(SVG + "polygon")]
    assert len(arrowheads) == 3
    assert len(set(arrowheads)) == 3


def test_a_single_leaf_is_a_picture_of_one_box():
    root = parse(draw_graph(Tensor(1.0, name="alone")))
    assert texts(root) == ["alone", "shape ()"]
    assert len(tensor_boxes(root)) == 1 and not list(root.iter(SVG + "path"))


def test_leaves_constants_and_computed_tensors_look_different_and_the_root_stands_out():
    loss, (x, target, weight, bias) = one_neuron_loss()
    root = parse(draw_graph(loss))
    style_of = {}
    for rect, title in zip(tensor_boxes(root), [t for t in root.iter(SVG + "text") if t.get("font-weight") == "bold"]):
        style_of[title.text] = (rect.get("fill"), rect.get("stroke-dasharray"), rect.get("rx"), rect.get("stroke-width"))
    assert style_of["weight"] == style_of["bias"]
    assert style_of["x"] == style_of["target"]
    assert style_of["matmul"][:3] == style_of["relu"][:3] == style_of["mse_loss"][:3]
    assert len({style_of["weight"][:3], style_of["x"][:3], style_of["matmul"][:3]}) == 3
    assert style_of["x"][1] is not None  # constants are dashed
    assert style_of["matmul"][2] is not None  # operations are rounded
    assert float(style_of["mse_loss"][3]) > float(style_of["matmul"][3])


def test_values_and_gradients_are_shown_on_request_for_small_tensors_only():
    loss, (x, target, weight, bias) = one_neuron_loss()
    assert not any(line.startswith(("value", "grad")) for line in texts(parse(draw_graph(loss))))
    assert "value 0.585" in texts(parse(draw_graph(loss, show_values=True)))
    assert not any(line.startswith("grad") for line in texts(parse(draw_graph(loss, show_grads=True))))
    assert weight._grad is None  # drawing did not allocate gradients

    loss.backward()
    lines = texts(parse(draw_graph(loss, show_values=True, show_grads=True)))
    assert "value [[0.5], [-0.25]]" in lines
    # dL/dw = x^T (2/n)(prediction - target) = x^T [[-0.9], [0.6]]
    assert "grad [[-0.6], [-2.4]]" in lines and "grad [-0.3]" in lines and "grad 1" in lines

    big = Tensor(np.ones((3, 3)), name="big")
    big_lines = texts(parse(draw_graph(ops.reduce_sum(big), show_values=True)))
    assert "value 9" in big_lines and not any("[[1" in line for line in big_lines)


def test_a_renamed_result_shows_its_name_and_operation_and_unnamed_constants_their_value():
    a = Tensor([1.0, 2.0], name="a")
    hidden = ops.relu(ops.add(a, 2.0))
    hidden.name = "hidden"
    lines = texts(parse(draw_graph(hidden)))
    assert "hidden = relu" in lines and "2" in lines


# -- valid, deterministic SVG -----------------------------------------------------


def test_names_are_escaped_for_xml():
    a = Tensor([1.0], name="<a&b>")
    b = Tensor([2.0], name='say "hi"\nthen go')
    total = ops.add(a, b)
    total.name = "</svg>"
    root = parse(draw_graph(total))  # would raise if the XML were broken
    lines = texts(root)
    assert "<a&b>" in lines and 'say "hi"\\nthen go' in lines and "</svg> = add" in lines
    assert "<a&b>" not in draw_graph(total).svg


def test_the_same_graph_gives_the_same_svg_byte_for_byte():
    first = draw_graph(mlp_loss(), show_values=True, show_grads=True).svg
    second = draw_graph(mlp_loss(), show_values=True, show_grads=True).svg
    assert first == second
    loss = mlp_loss()
    assert draw_graph(loss).svg == draw_graph(loss).svg


def test_save_writes_well_formed_svg_and_str_gives_the_same_text(tmp_path):
    picture = draw_graph(one_neuron_loss()[0])
    path = picture.save(tmp_path / "loss.svg")
    tree = ElementTree.parse(path)
    assert tree.getroot().tag == SVG + "svg"
    assert path.read_text(encoding="utf-8") == picture.svg == str(picture) == picture._repr_svg_()
    assert repr(picture) == "<GraphPicture of mse_loss: 8 tensors, 7 edges>"
    with pytest.raises(ValueError, match=r"must end in \.svg, not 'loss\.png'"):
        picture.save(tmp_path / "loss.png")


def test_boxes_do_not_overlap_and_fit_in_the_picture():
    for loss in [mlp_loss(), one_neuron_loss()[0]]:
        root = parse(draw_graph(loss, show_values=True))
        width, height = float(root.get("width")), float(root.get("height"))
        boxes = [
            tuple(float(rect.get(key)) for key in ("x", "y", "width", "height")) for rect in tensor_boxes(root)
        ]
        for x, y, w, h in boxes:
            assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        for (x1, y1, w1, h1), (x2, y2, w2, h2) in itertools.combinations(boxes, 2):
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1


def test_edges_point_down_from_parent_to_child():
    loss, _ = one_neuron_loss()
    root = parse(draw_graph(loss))
    for polygon in root.iter(SVG + "polygon"):
        (x1, y1), (x2, y2), (tip_x, tip_y) = [tuple(map(float, p.split(","))) for p in polygon.get("points").split()]
        assert y1 == y2 < tip_y and x1 < tip_x < x2


@tensor_op
class sine(Operation):
    @staticmethod
    def forward(ctx, a):
        ctx.append(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, grad_output):
        return (grad_output * np.cos(ctx[0]),)


def test_the_graph_chapters_example_has_no_crossings_and_its_gradients():
    from edugrad.drawing import crossings, make_layers, order_layers

    a, b = Tensor(0.5, name="a"), Tensor(3.0, name="b")
    loss = ops.add(ops.divide(sine(a), b), a)  # L = sin(a) / b + a
    loss.backward()
    layers, _ = make_layers(loss, all_tensors(loss), False, False)
    order_layers(layers)
    assert [len(layer) for layer in layers] == [1, 2, 3, 1]  # a's edge to L has waypoints
    assert crossings(layers) == 0
    lines = texts(parse(draw_graph(loss, show_grads=True)))
    assert f"grad {np.cos(0.5) / 3 + 1:.4g}" in lines and f"grad {-np.sin(0.5) / 9:.4g}" in lines


def random_graph(seed, operations=12):
    rng = np.random.default_rng(seed)
    pool = [Tensor(np.ones(2), name=f"p{i}") for i in range(3)]
    for _ in range(operations):
        i, j = rng.choice(len(pool), 2)
        pool.append(ops.add(pool[i], pool[j]) if rng.random() < 0.7 else ops.relu(pool[i]))
    return ops.reduce_sum(ops.add(pool[-1], pool[-4]))


def test_ordering_the_layers_removes_crossings_and_never_adds_any():
    from edugrad.drawing import crossings, make_layers, number_boxes, order_layers

    total_before = total_after = 0
    for seed in range(7):
        root = random_graph(seed)
        layers, _ = make_layers(root, all_tensors(root), False, False)
        for layer in layers:
            number_boxes(layer)
        before = crossings(layers)
        order_layers(layers)
        assert crossings(layers) < before, seed
        total_before, total_after = total_before + before, total_after + crossings(layers)
    assert total_after < total_before / 3


# -- limits and the optional Graphviz engine ------------------------------------------


def test_a_huge_graph_is_refused_quickly_with_a_clear_message():
    x = Tensor(1.0, name="x")
    y = x
    for _ in range(20_000):
        y = ops.add(y, 1.0)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"the graph above add has 40,001 tensors, more than max_nodes=200"):
        draw_graph(y)
    assert time.perf_counter() - start < 5


def test_max_nodes_is_a_limit_not_a_target():
    loss, _ = one_neuron_loss()
    assert draw_graph(loss, max_nodes=8).svg  # exactly 8 tensors
    with pytest.raises(ValueError, match="max_nodes=7"):
        draw_graph(loss, max_nodes=7)


def test_wrong_arguments_are_named():
    with pytest.raises(TypeError, match="draw_graph: expected a Tensor, got a ndarray"):
        draw_graph(np.ones(3))
    with pytest.raises(ValueError, match="engine must be 'builtin' or 'graphviz', not 'neato'"):
        draw_graph(Tensor(1.0), engine="neato")


def test_a_missing_graphviz_is_explained_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot anywhere
    with pytest.raises(RuntimeError) as error:
        draw_graph(one_neuron_loss()[0], engine="graphviz")
    message = str(error.value)
    assert "`dot` from Graphviz" in message and "apt-get install graphviz" in message
    assert "built-in layout" in message
    assert draw_graph(one_neuron_loss()[0]).svg  # the default needs no dot


def fake_dot(directory, script_body):
    """A program called dot that stands in for Graphviz's."""
    path = directory / "dot"
    path.write_text(f"#!{sys.executable}\nimport sys\n{script_body}\n")
    path.chmod(0o755)


def test_the_graphviz_engine_passes_every_box_and_edge_to_dot(monkeypatch, tmp_path):
    received = tmp_path / "received.dot"
    fake_dot(tmp_path, f"open({str(received)!r}, 'w').write(sys.stdin.read())\nprint('<svg>from dot</svg>')")
    monkeypatch.setenv("PATH", str(tmp_path))
    loss, _ = one_neuron_loss()
    picture = draw_graph(loss, engine="graphviz")
    assert picture.svg == "<svg>from dot</svg>\n"
    source = received.read_text()
    assert source.startswith("digraph {") and source.count(" -> ") == len(loss.get_graph_above())
    for label in ['"x\\nshape (2, 2)"', '"mse_loss\\nshape ()"', '"weight\\nshape (2, 1)"']:
        assert label in source


def test_graphviz_failures_are_reported_with_dots_message(monkeypatch, tmp_path):
    fake_dot(tmp_path, "sys.stderr.write('syntax error in line 3')\nsys.exit(1)")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="Graphviz's dot failed: syntax error in line 3"):
        draw_graph(Tensor(1.0), engine="graphviz")


def test_quotes_and_backslashes_are_escaped_in_dot_labels():
    from edugrad.drawing import dot_source

    a = Tensor(1.0, name='say "hi" \\o/')
    assert 'label="say \\"hi\\" \\\\o/\\nshape ()"' in dot_source(a, [a], False, False)


def test_the_package_draws_without_ipython():
    code = (
        "import sys; sys.modules['IPython'] = None\n"  # any import of IPython would now fail
        "import edugrad\n"
        "picture = edugrad.drawing.draw_graph(edugrad.ops.relu(edugrad.Tensor([1.0], name='a')))\n"
        "print(picture.svg[:4])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "<svg\n"


def test_highlighted_tensors_and_edges_are_red_and_show_grads_may_map_tensors_to_gradients():
    from edugrad.drawing import EDGE_COLOUR, HIGHLIGHT_COLOUR

    loss, (x, target, weight, bias) = one_neuron_loss()
    loss.backward()
    product = loss.parents[0].parents[0].parents[0]
    plain = parse(draw_graph(loss))
    lit = parse(draw_graph(loss, show_grads={weight: np.array([[7.0], [8.0]])}, highlight=[product, (weight, product)]))
    red_paths = [path for path in lit.iter(SVG + "path") if path.get("stroke") == HIGHLIGHT_COLOUR]
    red_boxes = [rect for rect in tensor_boxes(lit) if rect.get("stroke") == HIGHLIGHT_COLOUR]
    assert len(red_paths) == 1 and len(red_boxes) == 1
    assert not [path for path in plain.iter(SVG + "path") if path.get("stroke") != EDGE_COLOUR]
    other = parse(draw_graph(loss, highlight=[(x, product)]))
    other_red = [path.get("d") for path in other.iter(SVG + "path") if path.get("stroke") == HIGHLIGHT_COLOUR]
    assert len(other_red) == 1 and other_red[0] != red_paths[0].get("d")  # the edge asked for, not any edge
    lines = texts(lit)
    assert "grad [[7], [8]]" in lines or any(line.startswith("grad ") and "7" in line and "8" in line for line in lines)
    assert sum(line.startswith("grad ") for line in lines) == 1  # only the tensor in the dict shows a gradient
    with pytest.raises(TypeError):
        draw_graph(loss, highlight=5)
