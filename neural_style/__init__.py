"""Neural style transfer engine (instructor and command-line side; not shipped to students)."""
