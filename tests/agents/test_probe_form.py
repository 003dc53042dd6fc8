"""The probe form ``tool {json}``: what the Evolver writes is what every reader reads back."""

from __future__ import annotations

from aoi.agents.probe_form import format_call, read_calls


def test_a_written_call_reads_back_as_the_same_call() -> None:
    args = {"namespace": "shop", "name": "cart", "tail": 100}
    line = format_call("get_logs", args)
    assert line == 'get_logs {"name": "cart", "namespace": "shop", "tail": 100}'
    assert read_calls(line) == [("get_logs", args)]


def test_calls_are_found_among_prose_in_order_and_once() -> None:
    note = (
        'Discovery: get_pods {"namespace": "shop"}. Diagnosis: describe_service {"name": "cart"}; '
        'follow the errors; get_pods {"namespace": "shop"}.'
    )
    assert read_calls(note) == [("get_pods", {"namespace": "shop"}), ("describe_service", {"name": "cart"})]


def test_a_call_cut_off_or_not_an_object_or_glued_to_a_word_is_not_read() -> None:
    assert read_calls('get_logs {"name": "ca…') == []
    assert read_calls("get_pods {not json}") == []
    assert read_calls('re-get_pods {"namespace": "x"} xget_pods{"namespace": "x"}') == []
    assert read_calls('Get_pods {"namespace": "x"}') == []
