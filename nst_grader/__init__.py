"""Instructor-side grading of the Neural Style Transfer assignment (never released to students)."""
