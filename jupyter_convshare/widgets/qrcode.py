"""``QRCode``: a link as a QR code image and text (segno, made in the kernel)."""

from __future__ import annotations

import html

import ipywidgets as w

from ..core.qr import qr_png, qr_svg
from .status import selectable

__all__ = ["QRCode"]


class QRCode(w.VBox):
    """A QR code of ``url`` (an :class:`ipywidgets.Image`) with the link text below it.

    Args:
        url: the text to encode (a share link); ``""`` shows nothing.
        format: ``"svg"`` (default, sharp at any size) or ``"png"``.
        size: displayed width and height in CSS pixels.

    Calls no server: the code is made locally with segno (``core.qr``). A URL too long
    for a QR code shows a message instead of an image.

    Attributes:
        image: the Image widget (``format`` ``"svg+xml"`` or ``"png"``).
        link: an HTML widget with the URL, selectable with one click.
        url: the encoded URL (assign through :meth:`set_url`).
    """

    def __init__(self, url: str = "", *, format: str = "svg", size: int = 160) -> None:
        if format not in ("svg", "png"):
            raise ValueError("QRCode: format must be 'svg' or 'png'")
        self._format = format
        self.image = w.Image(
            format="svg+xml" if format == "svg" else "png",
            width=size,
            height=size,
            layout=w.Layout(display="none"),
        )
        self.link = w.HTML()
        self.url = ""
        super().__init__([self.image, self.link])
        self.set_url(url)

    def set_url(self, url: str) -> None:
        """Show the QR code of ``url`` (``""`` hides it)."""
        self.url = url
        if not url:
            self.image.value = b""
            self.image.layout.display = "none"
            self.link.value = ""
            return
        try:
            data = qr_svg(url) if self._format == "svg" else qr_png(url, scale=6)
        except ValueError as exc:  # segno: too long for any QR version
            self.image.value = b""
            self.image.layout.display = "none"
            self.link.value = f"<em>No QR code: {html.escape(str(exc))}</em><br>{selectable(url)}"
            return
        self.image.value = data
        self.image.layout.display = None
        self.link.value = selectable(url)
