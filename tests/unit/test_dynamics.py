"""Laws of the world as properties: they hold for any inputs, not just the defaults."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.twin import dynamics as dyn
from adaptive_delivery.twin.providers import N_PROVIDERS

providers = st.integers(0, N_PROVIDERS - 1)
reputation = st.floats(0, 100)
unit = st.floats(0, 1)


def _probs(p, rep, pressure, invalid=0.0, full=0.0, spam=0.25):
    return dyn.outcome_probabilities(
        provider=np.array([p]), reputation=rep, pressure=pressure, blocklisted=False, spf_or_dkim=True, dmarc=True,
        one_click=True, address_invalid=invalid, mailbox_full=full, engagement=0.25, spamminess=spam, quality=0.5,
        domain_age_days=400, complaint_rate=0.0003,
    )


@settings(max_examples=200, deadline=None)
@given(providers, reputation, st.floats(0, 50), unit, unit, unit)
def test_outcome_probabilities_form_a_distribution(p, rep, pressure, invalid, full, spam):
    m = _probs(p, rep, pressure, invalid, full, spam).matrix()
    assert np.all(m >= -1e-12)
    assert np.allclose(m.sum(axis=1), 1.0)


@settings(max_examples=200, deadline=None)
@given(providers, reputation, st.floats(0, 10), st.floats(0.01, 10))
def test_more_pressure_never_means_fewer_blocks_or_more_inbox(p, rep, pressure, extra):
    low, high = _probs(p, rep, pressure), _probs(p, rep, pressure + extra)
    assert high.p_block[0] >= low.p_block[0] - 1e-12
    assert high.p_inbox[0] <= low.p_inbox[0] + 1e-12
    # mail that is not accepted at once is either deferred or refused; that share only grows
    assert high.p_first_defer[0] + high.p_block[0] >= low.p_first_defer[0] + low.p_block[0] - 1e-12


@settings(max_examples=200, deadline=None)
@given(providers, st.floats(0, 95), st.floats(0.5, 5))
def test_better_reputation_never_means_more_blocks(p, rep, better):
    assert _probs(p, rep + better, 0.0).p_block[0] <= _probs(p, rep, 0.0).p_block[0] + 1e-12


@settings(max_examples=200, deadline=None)
@given(reputation, st.floats(0, 1e5), st.floats(0, 1), st.floats(0, 0.01), st.floats(0, 1), st.floats(0, 0.5))
def test_reputation_stays_in_range(rep, sent, hard_share, complaint_share, block_share, open_share):
    new = dyn.update_reputation(np.array([rep]), sent=np.array([sent]), hard_bounces=np.array([sent * hard_share]),
                                complaints=np.array([sent * complaint_share]), trap_hits=np.array([0.0]),
                                blocks=np.array([sent * block_share]), human_opens=np.array([sent * open_share]))
    assert 0.0 <= new[0] <= 100.0


def test_complaints_above_gmail_threshold_hurt_reputation_and_placement():
    args = dict(sent=np.array([50_000.0]), hard_bounces=np.array([300.0]), trap_hits=np.array([0.0]),
                blocks=np.array([0.0]), human_opens=np.array([10_000.0]))
    calm = dyn.update_reputation(np.array([78.0]), complaints=np.array([50_000 * 0.0005]), **args)
    angry = dyn.update_reputation(np.array([78.0]), complaints=np.array([50_000 * 0.004]), **args)
    assert angry[0] < calm[0] - 10
    q_calm = dyn.inbox_probability(np.array([0]), 78, 0.3, 0.25, 0.5, True, 400, 0.0005)
    q_angry = dyn.inbox_probability(np.array([0]), 78, 0.3, 0.25, 0.5, True, 400, 0.004)
    assert q_angry[0] < q_calm[0] - 0.1


def test_warm_capacity_grows_only_on_clean_used_days():
    cap = np.array([1000.0])
    kw = dict(provider=np.array([0]), established_capacity=np.array([1e6]), bounces=np.array([5.0]),
              complaints=np.array([0.0]), deferrals=np.array([0.0]))
    grown = dyn.update_warm_capacity(cap, delivered=np.array([1000.0]), sent=np.array([1000.0]), **kw)
    idle = dyn.update_warm_capacity(cap, delivered=np.array([10.0]), sent=np.array([10.0]), **kw)
    dirty = dyn.update_warm_capacity(cap, delivered=np.array([1000.0]), sent=np.array([1000.0]),
                                     **{**kw, "bounces": np.array([200.0])})
    assert grown[0] > cap[0] and idle[0] == cap[0] and dirty[0] < cap[0]


def test_spammier_content_draws_more_complaints_from_the_same_reader():
    eng = np.array([0.2, 0.2])
    p = dyn.complaint_probability(eng, np.array([False, False]), np.array([0.1, 0.9]), np.array([True, True]))
    assert p[1] > 1.5 * p[0]


@settings(max_examples=200, deadline=None)
@given(providers, reputation, st.floats(0, 10), unit)
def test_a_listed_ip_is_refused_outright_where_the_provider_reads_public_blocklists(p, rep, pressure, spam):
    """A listing blocks the IP (every message), at providers that consult public blocklists only."""
    from adaptive_delivery.twin.providers import provider_array

    def probs(listed: bool):
        return dyn.outcome_probabilities(
            provider=np.array([p]), reputation=rep, pressure=pressure, blocklisted=listed, spf_or_dkim=True,
            dmarc=True, one_click=True, address_invalid=0.0, mailbox_full=0.0, engagement=0.25, spamminess=spam,
            quality=0.5, domain_age_days=400, complaint_rate=0.0003)

    listed, clean = probs(True), probs(False)
    if provider_array("uses_public_blocklists")[p] > 0:
        assert listed.p_block[0] == 1.0 and listed.p_inbox[0] == listed.p_spam[0] == 0.0
    else:
        assert np.allclose(listed.matrix(), clean.matrix())
