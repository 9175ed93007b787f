"""QR codes of share links (segno): SVG for pages and projectors, PNG for downloads and
notebooks, text for terminals.

Every function encodes ``data`` (a share URL) with error correction level M, boosted when
the symbol size allows (segno's default ``boost_error``), in the smallest version that fits.
"""

from __future__ import annotations

import io

import segno

__all__ = ["qr_png", "qr_svg", "qr_terminal"]


def _make(data: str) -> segno.QRCode:
    if not isinstance(data, str) or not data:
        raise ValueError("qr: data must be a non-empty string")
    return segno.make_qr(data, error="m")


def qr_svg(data: str, scale: int = 8) -> bytes:
    """An SVG document (UTF-8 bytes) of the QR code for ``data``.

    Dark modules are black on a white background with the standard 4-module quiet zone,
    so the code scans in dark mode and on projectors. The SVG has a ``viewBox`` (it
    scales to any CSS size) and a ``<title>``; no scripts, no external references.

    Args:
        data: the text to encode (a URL).
        scale: pixels per module for the SVG's intrinsic width/height.

    Raises:
        ValueError: empty ``data``, or too long for a QR code (segno's DataOverflowError
            is a ValueError).
    """
    qr = _make(data)
    out = io.BytesIO()
    qr.save(
        out,
        kind="svg",
        scale=scale,
        border=4,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgns=True,
        title="QR code of the share link",
        svgclass="qr",
        lineclass=None,
        omitsize=True,  # gives a viewBox; the intrinsic size is added below
    )
    width, height = qr.symbol_size(scale=scale, border=4)
    svg = out.getvalue()
    return svg.replace(b"<svg ", f'<svg width="{width}" height="{height}" '.encode(), 1)


def qr_png(data: str, scale: int = 8) -> bytes:
    """A PNG image (bytes) of the QR code for ``data``, ``scale`` pixels per module.

    Raises:
        ValueError: empty ``data`` or too long for a QR code.
    """
    out = io.BytesIO()
    _make(data).save(out, kind="png", scale=scale, border=4, dark="#000", light="#fff")
    return out.getvalue()


def qr_terminal(data: str) -> str:
    """The QR code for ``data`` as text for a terminal (Unicode half blocks, two rows per line).

    Light modules (and a 2-module quiet zone) are drawn with full/half blocks and dark
    modules are spaces, so on the usual dark terminal background it reads as a normal
    dark-on-light code.

    Raises:
        ValueError: empty ``data`` or too long for a QR code.
    """
    qr = _make(data)
    border = 2
    matrix = [list(row) for row in qr.matrix_iter(scale=1, border=border)]
    if len(matrix) % 2:
        matrix.append([0] * len(matrix[0]))
    # On a dark terminal the glyphs are the light colour: drawing the light modules keeps
    # the code dark-on-light, which every scanner reads.
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2]):
        chars = []
        for t, b in zip(top, bottom):
            light_top, light_bottom = not t, not b
            if light_top and light_bottom:
                chars.append("\u2588")
            elif light_top:
                chars.append("\u2580")
            elif light_bottom:
                chars.append("\u2584")
            else:
                chars.append(" ")
        lines.append("".join(chars))
    return "\n".join(lines) + "\n"
