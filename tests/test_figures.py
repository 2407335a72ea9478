"""PNG figures: curve pixels sit where the data says (matplotlib), grid cells hold each image exactly."""

import json

import numpy as np
import pytest
from PIL import Image

from imgrestore.errors import UserError
from imgrestore.figures import MARGIN_B, MARGIN_L, MARGIN_R, MARGIN_T, PALETTE, PANEL_H, PANEL_W, plot_curves, sample_grid


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _line_pixels(img: np.ndarray, colour, ax) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) inside the plot box whose colour is close to the line colour."""
    x0, y0, x1, y1 = ax.box
    near = np.abs(img.astype(np.int32) - np.array(colour)).sum(axis=2) < 60
    keep = np.zeros_like(near)
    keep[y0 + 1:y1, x0 + 1:x1] = True
    if ax.legend:
        lx0, ly0, lx1, ly1 = ax.legend
        keep[ly0:ly1, lx0:lx1] = False
    return np.nonzero(near & keep)


def test_rising_psnr_line_is_where_the_data_says(tmp_path):
    rows = [{"iter": i, "psnr": 20 + 0.1 * i} for i in range(0, 101, 10)]
    out = tmp_path / "curves.png"
    (ax,) = plot_curves(_jsonl(tmp_path / "m.jsonl", rows), out)
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (PANEL_H, PANEL_W, 3)
    # the plot box follows from the documented margins, the limits from the data plus 5% padding
    x0, y0, x1, y1 = ax.box
    assert ax.box == (MARGIN_L, MARGIN_T, PANEL_W - MARGIN_R, PANEL_H - MARGIN_B)
    assert ax.xlim == (0, 100) and ax.ylim == pytest.approx((19.5, 30.5)) and not ax.log
    rr, cc = _line_pixels(img, PALETTE[0], ax)
    assert len(rr) > 200
    # each data point: a line pixel within 1.5 px of where the point belongs, computed by hand
    for r in rows:
        col = x0 + r["iter"] / 100 * (x1 - x0)
        row = y1 - (r["psnr"] - 19.5) / 11 * (y1 - y0)
        assert np.hypot(cc - col, rr - row).min() <= 1.5, r
    # the line rises: the mean row of each column falls as the column grows
    cols = np.unique(cc)
    mean_row = np.array([rr[cc == c].mean() for c in cols])
    assert np.corrcoef(cols, mean_row)[0, 1] < -0.999
    # and it is straight: rows fit the expected line within a pixel
    expect = y1 - (20 + 0.1 * (cols - x0) / (x1 - x0) * 100 - 19.5) / 11 * (y1 - y0)
    assert np.abs(mean_row - expect).max() < 1.0
    # nothing of the line outside the panel's frame
    inside = np.zeros(img.shape[:2], bool)
    inside[y0 + 1:y1, x0 + 1:x1] = True
    lx0, ly0, lx1, ly1 = ax.legend
    inside[ly0:ly1, lx0:lx1] = True
    near = np.abs(img.astype(np.int32) - np.array(PALETTE[0])).sum(axis=2) < 60
    assert not (near & ~inside).any()


def test_exponential_loss_is_a_straight_line_on_the_log_axis(tmp_path):
    rows = [{"iter": i, "loss": 10 ** (-i / 50)} for i in range(0, 201, 5)]
    (ax,) = plot_curves(_jsonl(tmp_path / "m.jsonl", rows), tmp_path / "c.png")
    assert ax.log and ax.title == "loss (log)"
    img = np.asarray(Image.open(tmp_path / "c.png").convert("RGB"))
    rr, cc = _line_pixels(img, PALETTE[0], ax)
    cols = np.unique(cc)
    mean_row = np.array([rr[cc == c].mean() for c in cols])
    slope, icpt = np.polyfit(cols, mean_row, 1)
    assert slope > 0  # falling values go down the figure
    assert np.abs(mean_row - (slope * cols + icpt)).max() < 1.5
    # 4 decades over the plot height (plus 5% padding on each side)
    x0, y0, x1, y1 = ax.box
    assert slope == pytest.approx((y1 - y0) / 1.1 / (x1 - x0), rel=0.02)
    (lin,) = plot_curves(tmp_path / "m.jsonl", tmp_path / "lin.png", log_y=False)
    assert not lin.log


def test_panels_legend_gaps_and_half_written_lines(tmp_path):
    rows = []
    for i in range(0, 101, 10):
        r = {"iter": i, "loss": 1.0 / (1 + i), "loss_adv": 0.7, "lr": 1e-4, "it_s": 5.0}
        if i % 20 == 0:
            r["val_psnr"] = 25 + i / 50
        if i == 50:
            r["loss"] = float("nan")
        rows.append(r)
    f = _jsonl(tmp_path / "m.jsonl", rows)
    with open(f, "a") as fh:
        fh.write('{"iter": 110, "lo')  # a line being written
    axes = plot_curves(f, tmp_path / "c.png")
    assert [a.keys for a in axes] == [["loss", "loss_adv"], ["val_psnr"]]  # default: loss/psnr/ssim columns
    img = np.asarray(Image.open(tmp_path / "c.png").convert("RGB"))
    assert img.shape == (PANEL_H, 2 * PANEL_W, 3)
    # the NaN at iteration 50 leaves a gap in the loss line between iterations 40 and 60
    ax = axes[0]
    rr, cc = _line_pixels(img, PALETTE[0], ax)
    c40, c60 = (ax.to_pixel(x, 1.0)[0] for x in (40, 60))
    assert not ((cc > c40 + 3) & (cc < c60 - 3)).any()
    assert ((cc > 0) & (cc < c40)).any() and (cc > c60).any()
    axes = plot_curves(f, tmp_path / "c2.png", keys=["lr", "it_s"])
    assert [a.title for a in axes] == ["learning rate (log)", "it_s"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"iter": 1}\nnot json\n{"iter": 2}\n')
    with pytest.raises(UserError, match="bad.jsonl:2"):
        plot_curves(bad, tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".png") == ["c.png", "c2.png"]


@pytest.mark.parametrize("lo, hi", [(0.00554, 0.0443), (0.0744, 0.223), (0.0113, 0.0563), (2e-3, 0.8),
                                    (1e-5, 1.0), (0.8, 1.1)])
def test_log_axis_is_labelled_over_its_whole_height(tmp_path, lo, hi):
    """The hand-drawn plots left a third of some log axes without a label (0.00554-0.0443: ticks
    0.005, 0.01, 0.02, the top third bare; 0.0744-0.223: the middle third); every third of the
    height now carries at least one label."""
    rows = [{"iter": i, "loss": lo * (hi / lo) ** (i / 40)} for i in range(41)]
    (ax,) = plot_curves(_jsonl(tmp_path / "m.jsonl", rows), tmp_path / "c.png")
    assert ax.log and ax.yticks
    a, b = (np.log10(v) for v in ax.ylim)
    where = [(np.log10(t) - a) / (b - a) for t in ax.yticks]
    for third in range(3):
        assert any(third / 3 <= f <= (third + 1) / 3 for f in where), (ax.yticks, ax.ylim)


def test_legend_hides_no_data_point(tmp_path):
    """A rising PSNR and a falling loss: the legend sits where no data point is drawn."""
    rows = [{"iter": i, "psnr": 20 + 0.1 * i, "loss": 10 ** (-i / 50), "loss_b": 0.5 * 10 ** (-i / 60)}
            for i in range(0, 201, 5)]
    for ax in plot_curves(_jsonl(tmp_path / "m.jsonl", rows), tmp_path / "c.png"):
        lx0, ly0, lx1, ly1 = ax.legend
        for k in ax.keys:
            for r in rows:
                c, rr = ax.to_pixel(r["iter"], r[k])
                assert not (lx0 - 1 <= c <= lx1 and ly0 - 1 <= rr <= ly1), (k, r, ax.legend)


def test_grid_places_each_image_exactly(tmp_path):
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)   # an x4 SR input: shown x4
    g0 = rng.random((48, 40, 3)).astype(np.float32)
    g = rng.random((48, 40)).astype(np.float32)             # gray
    odd = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)  # not a whole factor: centred as is
    rows = [[lr, g0, g, odd], [odd, g0]]
    out = tmp_path / "grid.png"
    cells = sample_grid(rows, ["input", "G0", "G", "target"], out)
    img = np.asarray(Image.open(out).convert("RGB"))
    as8 = lambda a: np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    expect = {(0, 0): np.repeat(np.repeat(lr, 4, 0), 4, 1), (0, 1): as8(g0), (0, 2): np.repeat(as8(g)[..., None], 3, 2),
              (0, 3): odd, (1, 0): odd, (1, 1): as8(g0)}
    assert len(cells) == 6
    for c in cells:
        x0, y0, x1, y1 = c.box
        np.testing.assert_array_equal(img[y0:y1, x0:x1], expect[(c.row, c.col)], err_msg=f"cell {c}")
    by = {(c.row, c.col): c for c in cells}
    assert by[(0, 0)].scale == 4 and by[(0, 3)].scale == 1
    # columns line up, rows stack, nothing overlaps, the odd image is centred in its 48-high row
    assert by[(0, 1)].box[0] == by[(1, 1)].box[0]
    assert by[(1, 0)].box[1] > by[(0, 0)].box[3]
    assert by[(0, 3)].box[1] - by[(0, 1)].box[1] == (48 - 30) // 2
    boxes = [c.box for c in cells]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    # the header holds the labels: dark pixels above the first row
    assert (img[:by[(0, 0)].box[1]].min(axis=2) < 128).any()
    with pytest.raises(ValueError, match="3 labels for 4 columns"):
        sample_grid(rows, ["a", "b", "c"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="row 0 column 0"):
        sample_grid([[np.zeros((4, 4, 2))]], ["a"], tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


def test_figures_import_no_heavy_modules():
    import subprocess
    import sys

    code = "import sys, imgrestore.figures; print(any(m in sys.modules for m in ('torch', 'skimage', 'numba')))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stdout.strip() == "False", res.stderr


def test_labels_of_small_images_do_not_overlap(tmp_path):
    """Columns of 8-pixel crops are widened to their labels (stage 2's input Y | X_s | G grid):
    the label centred over each column ends before the next one starts."""
    from imgrestore.figures import _font, _text_width

    labels = ["input Y", "X_s (stage 2)", "G (stage 3)"]
    cells = sample_grid([[np.full((8, 8), 0.5, np.float32)] * 3] * 2, labels, tmp_path / "g.png")
    centre = [(c.box[0] + c.box[2]) / 2 for c in cells if c.row == 0]
    half = [_text_width(_font(), lab) / 2 for lab in labels]
    for j in range(2):
        assert centre[j] + half[j] < centre[j + 1] - half[j + 1], (centre, half)
