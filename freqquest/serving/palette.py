"""One colour per class, the same in every picture and on the page."""

PALETTE = ("#0b63c5", "#d1495b", "#2e933c", "#edae49", "#7a4eab", "#1b998b", "#8c564b", "#e377c2", "#555555")


def class_colours(classes: list) -> dict:
    """class -> colour, in the run's class order (the palette repeats past its length)."""
    return {name: PALETTE[k % len(PALETTE)] for k, name in enumerate(classes)}
