-- An Isso database, made with Isso's own schema (isso/db/threads.py, isso/db/comments.py,
-- isso/db/preferences.py). Times are seconds since 1970, as Isso stores them.
CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256));
CREATE TABLE comments (
    tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER,
    created FLOAT NOT NULL, modified FLOAT, mode INTEGER, remote_addr VARCHAR,
    text VARCHAR, author VARCHAR, email VARCHAR, website VARCHAR,
    likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL,
    notification INTEGER NOT NULL DEFAULT 0);
CREATE TABLE preferences (key VARCHAR PRIMARY KEY, value VARCHAR);
INSERT INTO preferences VALUES ('session-key', '0f1e2d3c4b5a');

INSERT INTO threads VALUES (1, '/2019/tide-tables/', 'Reading tide tables');
INSERT INTO threads VALUES (2, '/2020/sourdough/', NULL);

-- 2019-06-01T10:00:00Z, a reply with likes, a comment awaiting moderation, a deleted one with a reply.
INSERT INTO comments VALUES (1, 1, NULL, 1559383200.0, NULL, 1, '203.0.113.0',
    'Does the *second* low tide always come later?', 'Marguerite', 'marguerite@example.org',
    NULL, 3, 1, x'00', 0);
INSERT INTO comments VALUES (1, 2, 1, 1559386800.25, 1559390400.0, 1, '198.51.100.0',
    'About fifty minutes later each day, yes.', 'Tomas', NULL, 'https://example.net', 5, 0, x'00', 1);
INSERT INTO comments VALUES (1, 3, NULL, 1559473200.0, NULL, 2, '192.0.2.0',
    'Waiting for a moderator.', NULL, NULL, NULL, 0, 0, x'00', 0);
INSERT INTO comments VALUES (2, 4, NULL, 1590000000.0, NULL, 4, '192.0.2.0',
    '', NULL, 'gone@example.org', NULL, 0, 0, x'00', 0);
INSERT INTO comments VALUES (2, 5, 4, 1590003600.0, NULL, 1, '192.0.2.0',
    'Replying to something now gone.', 'Ines', NULL, NULL, 0, 0, x'00', 0);
