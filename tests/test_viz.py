"""Decision-boundary figures and animations: grids, colours, labels, frame counts, errors."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image  # noqa: E402  (matplotlib brings Pillow; both are optional extras)

import jaxnet as jn  # noqa: E402


def points():
    """Six labelled points in 2-D, three classes."""
    x = np.array([[-1.0, -1.0], [-0.5, -1.0], [1.0, 0.0], [0.5, 0.2], [0.0, 1.0], [0.2, 2.0]],
                 np.float32)
    return x, np.array([0, 0, 1, 1, 2, 2], np.int32)


def linear_logits(weights):
    """A prediction function ``p -> p @ weights``: logits linear in the point."""
    return lambda p: np.asarray(p) @ np.asarray(weights, np.float32)


def test_boundary_grid_covers_the_data_with_a_margin():
    x, _ = points()
    grid = jn.viz.boundary_grid(x, resolution=11, margin=0.1)
    assert grid.shape == (11, 11, 2) and grid.dtype == np.float32
    np.testing.assert_allclose(grid[0, 0], [-1.2, -1.3], rtol=1e-6)
    np.testing.assert_allclose(grid[-1, -1], [1.2, 2.3], rtol=1e-6)
    assert np.all(np.diff(grid[0, :, 0]) > 0) and np.all(np.diff(grid[:, 0, 1]) > 0)


def test_decision_boundary_labels_its_axes_legend_and_title(tmp_path):
    x, y = points()
    figure = jn.viz.decision_boundary(linear_logits(np.eye(2, 3)), x, y, title="linear",
                                      class_names=["a", "b", "c"], path=tmp_path / "b.png")
    (ax,) = figure.axes
    assert ax.get_title() == "linear"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_decision_boundary_colours_each_grid_point_by_its_predicted_class():
    x, y = points()
    # One logit, positive right of x1 = 0: class 1 on the right half of the picture.
    figure = jn.viz.decision_boundary(lambda p: p[:, 0], x, y, resolution=20, margin=0.0)
    rgb = figure.axes[0].images[0].get_array()
    left, right = rgb[:, 0], rgb[:, -1]
    assert np.all(left == left[0]) and np.all(right == right[0])
    assert not np.allclose(left[0], right[0])
    assert figure.axes[0].images[0].get_extent() == [-1.0, 1.0, -1.0, 2.0]


def test_probability_shading_fades_near_the_boundary_and_labels_need_no_logits():
    x, y = points()
    def steep(p):
        return 20.0 * p[:, 0]

    soft = jn.viz.decision_boundary(steep, x, y, resolution=21, margin=0.0,
                                    shading="probability").axes[0].images[0].get_array()
    hard = jn.viz.decision_boundary(steep, x, y, resolution=21, margin=0.0,
                                    ).axes[0].images[0].get_array()
    middle = 10  # the column on x1 = 0, where both classes are equally likely
    assert not np.allclose(soft[:, middle], hard[:, middle])
    np.testing.assert_allclose(soft[:, 0], hard[:, 0], atol=1e-6)
    labels = jn.viz.decision_boundary(lambda p: (p[:, 0] > 0).astype(np.int32), x, y,
                                      resolution=21, margin=0.0).axes[0].images[0].get_array()
    np.testing.assert_allclose(labels[:, :middle], hard[:, :middle])


def test_decision_boundary_takes_outputs_precomputed_on_the_grid():
    x, y = points()
    grid = jn.viz.boundary_grid(x, resolution=15)
    logits = grid @ np.eye(2, 3, dtype=np.float32)
    from_outputs = jn.viz.decision_boundary(logits, x, y, resolution=15)
    from_function = jn.viz.decision_boundary(linear_logits(np.eye(2, 3)), x, y, resolution=15)
    np.testing.assert_array_equal(from_outputs.axes[0].images[0].get_array(),
                                  from_function.axes[0].images[0].get_array())


def test_decision_boundary_draws_into_a_given_axes():
    from matplotlib.figure import Figure

    x, y = points()
    figure = Figure()
    axes = figure.subplots(1, 2)
    returned = jn.viz.decision_boundary(linear_logits(np.eye(2, 3)), x, y, ax=axes[1], title="B")
    assert returned is figure
    assert axes[1].get_title() == "B" and not axes[0].images and axes[1].images


def test_boundary_animation_writes_one_gif_frame_per_snapshot(tmp_path):
    x, y = points()
    frames = [linear_logits([[np.cos(a), np.sin(a)], [np.sin(a), -np.cos(a)]])
              for a in np.linspace(0.0, np.pi, 7)]
    path = jn.viz.boundary_animation(frames, x, y, tmp_path / "a.gif",
                                     captions=[f"step {i}" for i in range(7)], title="turning",
                                     resolution=30, size=2.0, dpi=60)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 7
        assert gif.size == (120, 120)
    assert path.stat().st_size < 200_000


def test_boundary_animation_takes_precomputed_grids(tmp_path):
    x, y = points()
    grid = jn.viz.boundary_grid(x, resolution=25)
    frames = [grid[..., 0] - shift for shift in (-0.5, 0.0, 0.5)]
    path = jn.viz.boundary_animation(frames, x, y, tmp_path / "a.gif", resolution=25, size=2.0)
    with Image.open(path) as gif:
        assert gif.n_frames == 3


def test_wrong_inputs_raise_clear_errors(tmp_path):
    x, y = points()
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        jn.viz.decision_boundary(lambda p: p[:, 0], np.zeros((6, 3)), y)
    with pytest.raises(ValueError, match="shading"):
        jn.viz.decision_boundary(lambda p: p[:, 0], x, y, shading="soft")
    with pytest.raises(ValueError, match="predict_fn"):
        jn.viz.decision_boundary(lambda p: p[:5], x, y)
    with pytest.raises(ValueError, match=r"\(25, 25\)"):
        jn.viz.boundary_animation([np.zeros((10, 10))], x, y, tmp_path / "a.gif", resolution=25)
    with pytest.raises(ValueError, match="2 captions for 1 frames"):
        jn.viz.boundary_animation([lambda p: p[:, 0]], x, y, tmp_path / "a.gif",
                                  captions=["a", "b"])


def test_confusion_matrix_shows_counts_labels_and_accuracy(tmp_path):
    counts = np.array([[5, 1], [2, 7]])
    figure = jn.viz.confusion_matrix(counts, ["cat", "dog"], title="pets",
                                     path=tmp_path / "confusion.png")
    ax = figure.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "5", "7"]
    assert ax.get_title() == "pets\naccuracy 0.800"
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="one class name per row"):
        jn.viz.confusion_matrix(counts, ["cat"])


def sweep_rows():
    """A 2 x 3 x 2 grid of (l2, lr, seed) with val_accuracy = lr * 10 + l2 + seed / 100."""
    rows = []
    for l2 in (0.0, 0.5):
        for lr in (0.001, 0.01, 0.1):
            for seed in (0, 1):
                rows.append({"l2": l2, "lr": lr, "seed": seed,
                             "val_accuracy": lr * 10 + l2 + seed / 100, "loss": 1.0 - lr})
    return rows


class Sweep:
    """What sweep_curve and sweep_heatmap read of a jn.SweepResult: configs and table()."""

    def __init__(self, rows):
        self.rows = rows
        self.configs = [{k: row[k] for k in ("l2", "lr", "seed")} for row in rows]

    def table(self):
        return self.rows


def test_sweep_curve_draws_the_mean_over_seeds_with_a_min_max_band_per_other_setting(tmp_path):
    figure = jn.viz.sweep_curve(Sweep(sweep_rows()), x="lr", metric="val_accuracy",
                                over="seed", path=tmp_path / "curve.png")
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.lines] == ["l2=0", "l2=0.5"]
    for line, l2 in zip(ax.lines, (0.0, 0.5)):
        np.testing.assert_allclose(line.get_xdata(), [0.001, 0.01, 0.1])
        np.testing.assert_allclose(line.get_ydata(), np.array([0.01, 0.1, 1.0]) + l2 + 0.005)
    band = ax.collections[0].get_paths()[0].vertices
    # fill_between's outline: the lower edge left to right, then the upper edge back.
    np.testing.assert_allclose(sorted(set(np.round(band[:, 1], 6))),
                               [0.01, 0.02, 0.1, 0.11, 1.0, 1.01])
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "lr"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.01", "0.1"]
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_sweep_curve_takes_rows_several_metrics_a_std_band_and_a_linear_axis():
    rows = sweep_rows()
    rows[0]["val_accuracy"] = float("nan")  # a diverged configuration is left out
    figure = jn.viz.sweep_curve(rows, x="lr", metric=["val_accuracy", "loss"], band="std",
                                log_x=False)
    ax = figure.axes[0]
    assert [line.get_label() for line in ax.lines] == ["val_accuracy", "loss"]
    # Rows of one lr are averaged over seeds and l2 alike, NaN left out.
    np.testing.assert_allclose(ax.lines[0].get_ydata(),
                               [np.mean([0.02, 0.51, 0.52]), 0.355, 1.255])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.999, 0.99, 0.9])
    spread = np.std([0.1, 0.11, 0.6, 0.61])
    edges = ax.collections[0].get_paths()[0].vertices
    at = edges[np.isclose(edges[:, 0], 0.01), 1]
    np.testing.assert_allclose(sorted(set(np.round(at, 9))),
                               np.round([0.355 - spread, 0.355 + spread], 9))
    assert ax.get_xscale() == "linear"


def test_sweep_heatmap_shows_the_mean_over_seeds_of_every_pair_and_outlines_the_best(tmp_path):
    figure = jn.viz.sweep_heatmap(Sweep(sweep_rows()), x="lr", y="l2", metric="val_accuracy",
                                  path=tmp_path / "heat.png")
    ax = figure.axes[0]
    grid = ax.images[0].get_array()
    expected = np.array([[0.01, 0.1, 1.0], [0.51, 0.6, 1.5]]) + 0.005
    np.testing.assert_allclose(grid, expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.001", "0.01", "0.1"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5"]
    assert len(ax.texts) == 6 and ax.texts[-1].get_text() == "1.5"
    (best,) = ax.patches
    assert best.get_xy() == (1.5, 0.5)  # lr 0.1 (column 2), l2 0.5 (row 1)
    assert (tmp_path / "heat.png").stat().st_size > 1000
    low = jn.viz.sweep_heatmap(Sweep(sweep_rows()), x="lr", y="l2", metric="loss",
                               annotate=False)
    assert low.axes[0].patches[0].get_xy() == (1.5, -0.5) and not low.axes[0].texts


def test_sweep_heatmap_leaves_untrained_pairs_blank():
    rows = [r for r in sweep_rows() if not (r["lr"] == 0.1 and r["l2"] == 0.5)]
    grid = jn.viz.sweep_heatmap(rows, x="lr", y="l2").axes[0].images[0].get_array()
    assert grid.mask[1, 2] and not grid.mask[0, 2]


def test_sweep_figures_name_a_missing_value():
    with pytest.raises(KeyError, match="'dropout' is not in every row"):
        jn.viz.sweep_curve(sweep_rows(), x="dropout")
    with pytest.raises(ValueError, match="band must be"):
        jn.viz.sweep_curve(sweep_rows(), band="range")
    with pytest.raises(ValueError, match="no rows"):
        jn.viz.sweep_heatmap([])


def test_figures_show_as_png_images_in_a_notebook():
    import matplotlib.figure

    figure = jn.viz.image_grid(np.zeros((4, 8, 8, 1), np.float32))
    assert isinstance(figure, matplotlib.figure.Figure)
    png = figure._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 100


class PBTResult:
    """What pbt_lineage reads of a jn.SweepResult trained with schedule=jn.pbt(...)."""

    lineage = [
        [{"epoch": 0, "copied": None, "lr": 0.01}, {"epoch": 2, "copied": 1, "lr": 0.125}],
        [{"epoch": 0, "copied": None, "lr": 0.1}],
    ]
    histories = [{"loss": [1.0] * 4}, {"loss": [1.0] * 4}]


def test_pbt_lineage_draws_each_member_as_steps_and_each_copy_as_a_jump(tmp_path):
    figure = jn.viz.pbt_lineage(PBTResult(), "lr", path=tmp_path / "lineage.png")
    ax = figure.axes[0]
    steps = [line for line in ax.get_lines() if line.get_linestyle() != ":"]
    xs, ys = steps[0].get_data()
    assert list(xs) == [0, 2, 4] and list(ys) == [0.01, 0.125, 0.125]  # then to epoch 4
    jumps = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(jumps) == 1 and list(jumps[0].get_data()[1]) == [0.1, 0.125]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    assert (tmp_path / "lineage.png").stat().st_size > 1000


def test_pbt_lineage_says_what_it_needs():
    class Plain:
        lineage = None

    with pytest.raises(ValueError, match="schedule=jn.pbt"):
        jn.viz.pbt_lineage(Plain())
    with pytest.raises(KeyError, match=r"'l2' is not perturbed.*\['lr'\]"):
        jn.viz.pbt_lineage(PBTResult(), "l2")
