"""Colour preservation, the two ways of Gatys et al. 2016, "Preserving Color in Neural Artistic Style
Transfer" (``COLOR_MODES``):

* ``luminance``: the transfer runs on luma images (Y of YIQ, repeated into 3 channels), with the
  style's luma shifted and scaled to the content's mean and spread, so that the style lends its
  texture and not its brightness. The result's luma is then combined with the content's chrominance
  (I, Q): the content's colours exactly, at every pixel.
* ``histogram``: before the transfer, the style's colours are moved by the affine map that gives
  them the content's mean and covariance (``match_color_histogram``). The transfer then runs as
  usual, in colour: the picture takes the content's palette, as a whole, not pixel by pixel.

Images are float32 arrays (1, height, width, 3), RGB in [0, 1].
"""

import numpy as np

COLOR_MODES = ("luminance", "histogram")
RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
"""Rows: Y (luma), I and Q (chrominance) as weights of R, G and B."""


def luminance(image: np.ndarray) -> np.ndarray:
    """Luma Y of an RGB image (..., 3), repeated into 3 channels."""
    y = np.asarray(image, np.float32) @ RGB_TO_YIQ[0]
    return np.repeat(y[..., None], 3, axis=-1)


def match_luminance(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luma of ``style`` shifted and scaled to the mean and standard deviation of ``content``'s luma
    (then clipped to [0, 1]), as 3 channels."""
    y_style, y_content = luminance(style), luminance(content)
    scale = y_content.std() / max(y_style.std(), 1e-6)
    return np.clip((y_style - y_style.mean()) * scale + y_content.mean(), 0.0, 1.0)


def with_colors_of(generated: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``generated``'s luma combined with ``content``'s chrominance (I, Q), as RGB in [0, 1]."""
    yiq = np.asarray(content, np.float32) @ RGB_TO_YIQ.T
    yiq[..., 0] = luminance(generated)[..., 0]
    return np.clip(yiq @ np.linalg.inv(RGB_TO_YIQ).T, 0.0, 1.0).astype(np.float32)


def match_color_histogram(style: np.ndarray, content: np.ndarray) -> np.ndarray:
    """``style`` with its colours moved so that their mean and 3x3 covariance are ``content``'s:
    x -> C_c^1/2 C_s^-1/2 (x - m_s) + m_c, the symmetric square roots (the variant of Gatys et al.'s
    paper that does not rotate hues), clipped to [0, 1]. A grey style has no spread across colours to
    match: its grey steps become steps along C_c^1/2 (1, 1, 1), tinted with the content's colours."""
    pixels = np.asarray(style, np.float64).reshape(-1, 3)
    target = np.asarray(content, np.float64).reshape(-1, 3)

    def covariance_power(colors, power):
        values, vectors = np.linalg.eigh(np.cov(colors, rowvar=False))
        return (vectors * np.maximum(values, 1e-6) ** power) @ vectors.T

    transform = covariance_power(target, 0.5) @ covariance_power(pixels, -0.5)
    matched = (pixels - pixels.mean(axis=0)) @ transform.T + target.mean(axis=0)
    return np.clip(matched, 0.0, 1.0).reshape(np.shape(style)).astype(np.float32)
