from common import eventdocs, events


def test_events_page_matches_the_protos() -> None:
    assert eventdocs.PAGE.read_text() == eventdocs.render(), "run `python -m common.eventdocs`"


def test_every_event_message_is_documented_with_its_producer() -> None:
    comments = eventdocs.message_comments()
    for subject, payload in events.PAYLOADS.items():
        comment = comments[payload.DESCRIPTOR.name]
        assert f"`{subject}`" in comment
        assert "Producer:" in comment
        assert "Consumers:" in comment
