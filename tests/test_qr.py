"""QR codes of share links: SVG, PNG and terminal text (core.qr, segno)."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET

import pytest
import segno

from jupyter_convshare.core.qr import qr_png, qr_svg, qr_terminal

URL = "https://hub.example.org/user/ana/convshare/s/" + "Ab3_-" * 8 + "xyz"
SVG_NS = "{http://www.w3.org/2000/svg}"


def test_svg_is_a_self_contained_scalable_document():
    # Given a share URL / When it is encoded as SVG
    svg = qr_svg(URL)
    # Then it is a standalone SVG with a viewBox, a size, a title and no script or link
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") and root.get("width") == root.get("height")
    assert root.find(f"{SVG_NS}title") is not None
    text = svg.decode()
    assert "<script" not in text and "href" not in text


def test_png_has_the_png_signature_and_scales_per_module():
    # Given a URL / When encoded as PNG at two scales
    small, large = qr_png(URL, scale=2), qr_png(URL, scale=8)
    # Then both are PNGs and the width grows with the scale (4x)
    assert small[:8] == b"\x89PNG\r\n\x1a\n"
    width_small = struct.unpack(">I", small[16:20])[0]
    width_large = struct.unpack(">I", large[16:20])[0]
    assert width_large == 4 * width_small


def test_terminal_text_draws_the_same_modules_as_segno():
    # Given a URL / When printed for a terminal
    text = qr_terminal(URL)
    # Then each character cell encodes two rows of the symbol (light modules drawn)
    matrix = [list(row) for row in segno.make_qr(URL, error="m").matrix_iter(scale=1, border=2)]
    if len(matrix) % 2:
        matrix.append([0] * len(matrix[0]))
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == len(matrix) // 2
    glyph = {(True, True): "\u2588", (True, False): "\u2580", (False, True): "\u2584", (False, False): " "}
    for line, top, bottom in zip(lines, matrix[0::2], matrix[1::2]):
        assert line == "".join(glyph[(not t, not b)] for t, b in zip(top, bottom))


def test_png_decodes_to_the_url():
    # Given a URL encoded as PNG / When a QR reader (zxing-cpp) scans it
    zxingcpp = pytest.importorskip("zxingcpp")
    image = pytest.importorskip("PIL.Image")
    results = zxingcpp.read_barcodes(image.open(io.BytesIO(qr_png(URL, scale=4))))
    # Then it reads back the exact URL
    assert [r.text for r in results] == [URL]


@pytest.mark.parametrize("fn", [qr_svg, qr_png, qr_terminal])
def test_empty_data_is_refused(fn):
    # Given nothing to encode / Then a ValueError, not an empty image
    with pytest.raises(ValueError):
        fn("")
