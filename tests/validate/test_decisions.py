import pytest

from mbdg_assets.validate.decisions import AUTO_APPROVE, AUTO_REJECT, REQUIRE_REVIEW, Thresholds, decide


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.0, AUTO_REJECT), (0.6999, AUTO_REJECT), (0.70, REQUIRE_REVIEW), (0.8999, REQUIRE_REVIEW),
     (0.90, AUTO_APPROVE), (1.0, AUTO_APPROVE)],
)
def test_threshold_edges(score, expected):
    assert decide(score) == expected


def test_float_noise_at_the_edge_does_not_flip_the_decision():
    assert decide(0.1 * 3 + 0.6) == AUTO_APPROVE  # 0.8999999999999999 in binary floating point
    assert decide(0.7 - 1e-12) == REQUIRE_REVIEW


def test_hard_failure_rejects_whatever_the_score():
    assert decide(1.0, hard_fail=True) == AUTO_REJECT


def test_thresholds_are_configurable_and_checked():
    assert decide(0.85, Thresholds(approve=0.8, review=0.5)) == AUTO_APPROVE
    with pytest.raises(ValueError, match="review"):
        Thresholds(approve=0.6, review=0.7)


def test_a_finding_for_a_person_keeps_a_high_score_from_auto_approve_but_not_a_low_one_from_reject():
    assert decide(1.0, review=True) == REQUIRE_REVIEW
    assert decide(0.5, review=True) == AUTO_REJECT
