"""FLOPs per step, the probe convolution, and the time estimate a run prints before its first step."""

import dataclasses

import pytest

from neural_style import speed, transfer


def test_step_flops_counts_convolutions_gradient_and_grams(vgg_weights):
    # conv1_1 (3 -> 64) and conv1_2 (64 -> 64) on 10x8 pixels; one Gram matrix at conv1_1.
    settings = dataclasses.replace(
        transfer.defaults_for(vgg_weights), content_layer="conv1_2", style_layers=(("conv1_1", 1.0),)
    )
    pixels = 10 * 8
    convolutions = 2 * pixels * 9 * 3 * 64 + 2 * pixels * 9 * 64 * 64
    gram = 2 * pixels * 64 * 64
    assert speed.step_flops(10, 8, settings) == 2 * convolutions + 2 * gram
    # Deeper layers see fewer positions after each pooling: the default set costs more per pixel.
    default = transfer.defaults_for(vgg_weights)
    assert speed.step_flops(40, 32, default) > 16 * speed.step_flops(10, 8, settings)


def test_step_flops_counts_the_gram_matrix_of_any_kind_of_layer(vgg_weights):
    """A Gram matrix of relu1_1 (the default's kind of style layer) costs what one of conv1_1 does,
    and one of pool1 a quarter of that (a quarter of the positions); the convolutions are the same."""

    def flops(style_layer):
        settings = dataclasses.replace(
            transfer.defaults_for(vgg_weights), content_layer="pool1", style_layers=((style_layer, 1.0),)
        )
        return speed.step_flops(10, 8, settings)

    gram_at_conv1_1 = 2 * 10 * 8 * 64**2
    assert flops("relu1_1") == flops("conv1_1")
    assert flops("conv1_1") - flops("pool1") == 2 * (gram_at_conv1_1 - gram_at_conv1_1 // 4)


class FakeClock:
    """A clock that moves ``tick`` seconds each time it is read: a timing of it is exact."""

    def __init__(self, tick):
        self.now, self.tick = 0.0, tick

    def __call__(self):
        self.now += self.tick
        return self.now


def test_median_seconds_works_untimed_for_the_warm_up_first():
    """One untimed call at least, more until ``warmup_seconds`` have passed on the clock, then
    ``repeats`` timed: their median is what the clock says one call took."""
    calls = []
    assert speed.median_seconds(lambda: calls.append(1), repeats=5, warmup_seconds=0, clock=FakeClock(0.25)) == 0.25
    assert len(calls) == 1 + 5
    calls.clear()
    # Read at 0.25 (start), then after each warm-up call at 0.5, 0.75, 1.0, 1.25: 4 calls to pass 1 s.
    assert speed.median_seconds(lambda: calls.append(1), repeats=5, warmup_seconds=1.0, clock=FakeClock(0.25)) == 0.25
    assert len(calls) == 4 + 5


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_probe_convolution_counts_its_flops_over_the_time_it_took(precision):
    """A real 3x3 convolution (a small one here) timed by a clock that makes each call take 0.125 s:
    its GFLOP/s are its FLOPs (2 per multiply-add) over that time, exactly."""
    height, width, channels_in, channels_out = 12, 16, 32, 32
    clock = FakeClock(0.125)  # read before and after each timed call
    gflops = speed.conv_gflops(precision, (height, width, channels_in, channels_out), repeats=3, clock=clock)
    assert gflops == pytest.approx(2 * height * width * 9 * channels_in * channels_out / 0.125 / 1e9)


def test_the_estimate_is_the_run_flops_over_the_probe_scaled_by_the_share_runs_reach(vgg_weights):
    """Twice the probe's speed halves the estimate, and the levels of a pyramid add up."""
    settings = transfer.defaults_for(vgg_weights)
    sizes, steps = transfer.pyramid(1920, 1080), transfer.level_steps(200, 3)
    assert (sizes, steps) == ([(480, 270), (960, 540), (1920, 1080)], [200, 50, 12])
    whole = speed.estimated_seconds(sizes, steps, settings, probe_gflops=500)
    levels = [speed.estimated_seconds([size], [count], settings, 500) for size, count in zip(sizes, steps)]
    assert whole == pytest.approx(sum(levels))
    assert speed.estimated_seconds(sizes, steps, settings, 1000) == pytest.approx(whole / 2)
    # A level of 4 times the pixels and a quarter of the steps costs about as much: FLOPs go with pixels.
    assert levels[1] == pytest.approx(levels[0], rel=0.02)
    assert levels[2] == pytest.approx(levels[0], rel=0.06)  # 12 steps, not 12.5
    flops = sum(count * speed.step_flops(*size, settings) for size, count in zip(sizes, steps))
    assert whole == pytest.approx(flops / (500e9 * speed.RUN_SHARE))
