from tool import slugify


def test_slugify_drops_punctuation():
    assert slugify("Rock & Roll") == "rock-roll"


def test_slugify_respects_max_length():
    assert len(slugify("word " * 40, max_length=12)) <= 12
