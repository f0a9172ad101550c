-- How far the event journal (`<database>-events`, SQLite only) has been applied: the flusher
-- sets it in the same transaction as the events it commits, so lines replayed at start-up
-- after a crash are never applied twice.
CREATE TABLE event_journal (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    applied_through INTEGER NOT NULL
);
INSERT INTO event_journal (id, applied_through) VALUES (1, 0);
