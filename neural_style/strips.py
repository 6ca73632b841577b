"""VGG-19's first block over horizontal strips, recomputed in the backward pass: less memory for big
pictures, the same costs and gradient.

The first block (conv1_1, relu1_1, conv1_2, relu1_2, then pool1) runs at full resolution with 64
channels, so its activations and their gradients are most of what a gradient step holds at a large
size. Here the block keeps nothing for the backward pass but its input: the forward pass returns
pool1 and the Gram matrices of the block's style layers, strip by strip; the backward pass computes
each strip again, with a 2-row halo for the two 3x3 convolutions, and takes its gradient before the
next strip starts. The block's memory then scales with one strip, not the picture, for one more
forward pass of the block: a small share of a step, whose other layers are left as they are.

Both the Gram matrices and the style cost they feed are sums over positions, so summing the strips'
Gram matrices gives the whole picture's; each strip counts only the rows it owns, not its halo.
"""

import tensorflow as tf

from .losses import gram_matrix

FIRST_BLOCK = ("conv1_1", "relu1_1", "conv1_2", "relu1_2")
STRIP_PIXELS = 500_000
"""Full-resolution pixels per strip, at most: a picture of this size or smaller is not cut."""
HALO = 2  # rows each side: one per 3x3 convolution


def strip_rows(height: int, width: int, strip_pixels: int = STRIP_PIXELS) -> list[tuple[int, int]]:
    """The row ranges ``[(start, end), ...]`` that cut a picture of ``height`` x ``width`` into strips
    of at most about ``strip_pixels``: even starts, so that each strip's 2x2 pooling is its own, and the
    last strip ending at ``height``."""
    pairs = height // 2  # pool1's rows
    count = max(1, min(-(-height * width // strip_pixels), pairs))
    starts = [2 * (pairs * index // count) for index in range(count)]
    return list(zip(starts, starts[1:] + [height]))


def can_split(content_layer: str) -> bool:
    """Whether a network can run its first block in strips: its content layer must come after the
    block, since the content cost needs the activations themselves, not a sum over positions."""
    return content_layer not in FIRST_BLOCK


def _after(tensor, earlier):
    """``tensor``, made to wait for ``earlier``: a data dependency (a zero computed from ``earlier``),
    which, unlike a control dependency, neither grappler's common-subexpression elimination nor
    constant folding removes; ``tf.recompute_grad`` uses the same device."""
    first = tf.cast(tf.reshape(earlier, [-1])[0], tf.bool)
    zero = tf.where(tf.equal(first, first), 0.0, float("nan"))
    return tensor + tf.cast(zero, tensor.dtype)


def _rows(tensor, first, last):
    """Rows [first, last) of ``tensor`` (1, H, W, C). ``tf.slice``, whose gradient is a pad: Python's
    slicing makes a strided slice, whose gradient runs several times slower on CPUs."""
    return tf.slice(tensor, [0, first, 0, 0], [-1, last - first, -1, -1])


class StripedNetwork:
    """Wraps a ``nst_utils.build_vgg_model`` model for images (1, H, W, 3) whose first block runs in
    strips (``strip_rows``). Called on an image, it returns ``(activations, grams)``: the model's
    activations of the requested layers after the first block, and the Gram matrices (n_C, n_C),
    float32, of the requested first-block layers."""

    def __init__(self, model, layers, rows):
        self.rows = rows
        self.block_grams = [name for name in FIRST_BLOCK if name in layers]
        self.later = [name for name in layers if name not in FIRST_BLOCK]
        self.preprocess = model.get_layer("preprocess")
        dtype = self.preprocess.compute_dtype
        self.convs = {
            name: [tf.cast(tf.constant(w.numpy()), dtype) for w in model.get_layer(name).weights]
            for name in ("conv1_1", "conv1_2")
        }
        names = [layer.name for layer in model.layers]
        self.tail = model.layers[names.index("pool1") + 1 :]

    def __call__(self, image):
        pool1, *grams = self._first_block(image)
        activations, x = {}, pool1
        if "pool1" in self.later:
            activations["pool1"] = pool1
        for layer in self.tail:
            x = layer(x)
            if layer.name in self.later:
                activations[layer.name] = x
        return activations, dict(zip(self.block_grams, grams))

    def _conv(self, name, x):
        kernel, bias = self.convs[name]
        return tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias)

    def _strip(self, rows, start, end, height):
        """pool1 for rows [start, end) of a picture ``height`` rows high, from ``rows``: the picture's
        rows [start - HALO, end + HALO) that exist. Also the Gram matrices of the block's style layers
        over rows [start, end).

        The convolutions pad with zeros (``SAME``), as the network does, so each one spoils the first
        and last rows it computes: of the 2 + 2 halo rows, relu1_1 keeps 1 + 1 right and pool1 none.
        Rows beyond the picture must be zeros, as the network's padding: the image's, and relu1_1's.
        """
        low, high = max(start - HALO, 0), min(end + HALO, height)
        beyond = [HALO - (start - low), HALO - (high - end)]  # rows above and below the picture
        x = tf.pad(self.preprocess(rows), [[0, 0], beyond, [0, 0], [0, 0]])  # rows [start - 2, end + 2)
        conv1_1 = self._conv("conv1_1", x)
        relu1_1 = tf.nn.relu(conv1_1)
        if any(beyond):
            count = end - start + 2 * HALO
            inside = [0.0] * beyond[0] + [1.0] * (count - sum(beyond)) + [0.0] * beyond[1]
            relu1_1 = relu1_1 * tf.constant(inside, relu1_1.dtype, (1, count, 1, 1))
        conv1_2 = self._conv("conv1_2", relu1_1)
        relu1_2 = tf.nn.relu(conv1_2)
        pool1 = _rows(tf.nn.avg_pool2d(relu1_2, 2, 2, "VALID"), 1, 1 + end // 2 - start // 2)
        activations = {"conv1_1": conv1_1, "relu1_1": relu1_1, "conv1_2": conv1_2, "relu1_2": relu1_2}
        owned = [_rows(activations[name], HALO, HALO + end - start) for name in self.block_grams]
        return [pool1] + [gram_matrix(features) for features in owned]

    def _first_block(self, image):
        image = tf.convert_to_tensor(image)
        height = image.shape[1]
        halos = [(max(start - HALO, 0), min(end + HALO, height)) for start, end in self.rows]

        @tf.custom_gradient
        def block(image):
            results, previous = [], image
            for (start, end), (low, high) in zip(self.rows, halos):
                results.append(self._strip(_after(_rows(image, low, high), previous), start, end, height))
                previous = results[-1][0]
            outputs = [tf.concat([result[0] for result in results], axis=1)]
            outputs += [tf.add_n([result[i] for result in results]) for i in range(1, len(results[0]))]

            def gradient(*upstream):
                pieces, previous = [], upstream[0]
                for (start, end), (low, high) in zip(self.rows, halos):
                    rows = _after(_rows(image, low, high), previous)
                    with tf.GradientTape() as tape:
                        tape.watch(rows)
                        strip_outputs = self._strip(rows, start, end, height)
                    strip_upstream = [
                        tf.zeros_like(output) if given is None else given
                        for output, given in zip(
                            strip_outputs, [_rows(upstream[0], start // 2, end // 2), *upstream[1:]]
                        )
                    ]
                    previous = tape.gradient(strip_outputs, rows, output_gradients=strip_upstream)
                    pieces.append(tf.pad(previous, [[0, 0], [low, height - high], [0, 0], [0, 0]]))
                return tf.add_n(pieces)

            return outputs, gradient

        return block(image)
