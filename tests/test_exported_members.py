import jobtools


def test_all_is_sorted_and_importable():
    """Every name in __all__ exists, and the list stays sorted so the API reads in one screen."""
    assert list(jobtools.__all__) == sorted(jobtools.__all__)
    for name in jobtools.__all__:
        assert hasattr(jobtools, name), name
