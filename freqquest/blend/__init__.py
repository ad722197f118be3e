"""The blend: the members' probabilities averaged, and the steps that judge a set of clips as a whole."""

import dataclasses
import logging


@dataclasses.dataclass(frozen=True)
class JudgedSet:
    """The clips a step judges, as its log lines name them, and how loud the set's steps are: the test set's
    vote, pseudo-labels and routing are news to the person running it; each validation fold's are not."""

    name: str
    level: int


TEST = JudgedSet("test", logging.INFO)
VALIDATION = JudgedSet("validation", logging.DEBUG)
