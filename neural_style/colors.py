"""Colour preservation by luminance-only transfer (Gatys et al. 2016, "Preserving Color in Neural
Artistic Style Transfer").

The transfer runs on luma images (Y of YIQ, repeated into 3 channels), with the style's luma shifted
and scaled to the content's mean and spread, so that the style lends its texture and not its
brightness. The result's luma is then combined with the content's chrominance (I, Q). Images are
float32 arrays (1, height, width, 3), RGB in [0, 1].
"""

import numpy as np

RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
"""Rows: Y (luma), I and Q (chrominance) as weights of R, G and B."""


def luminance(image):
    """Luma Y of an RGB image (..., 3), repeated into 3 channels."""
    y = np.asarray(image, np.float32) @ RGB_TO_YIQ[0]
    return np.repeat(y[..., None], 3, axis=-1)


def match_luminance(style, content):
    """Luma of ``style`` shifted and scaled to the mean and standard deviation of ``content``'s luma
    (then clipped to [0, 1]), as 3 channels."""
    y_style, y_content = luminance(style), luminance(content)
    scale = y_content.std() / max(y_style.std(), 1e-6)
    return np.clip((y_style - y_style.mean()) * scale + y_content.mean(), 0.0, 1.0)


def with_colors_of(generated, content):
    """``generated``'s luma combined with ``content``'s chrominance (I, Q), as RGB in [0, 1]."""
    yiq = np.asarray(content, np.float32) @ RGB_TO_YIQ.T
    yiq[..., 0] = luminance(generated)[..., 0]
    return np.clip(yiq @ np.linalg.inv(RGB_TO_YIQ).T, 0.0, 1.0).astype(np.float32)
