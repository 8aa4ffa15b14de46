BEGIN TRANSACTION;
CREATE TABLE command_keys (
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        command_key TEXT NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id, command_key)
    ) WITHOUT ROWID
    ;
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.10');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.11');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.12');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.13');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.14');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.15');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.16');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.17');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.18');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.19');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1a');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1b');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1c');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1d');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1e');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.1f');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.2');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.20');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.3');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.4');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.5');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.6');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.7');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.8');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.9');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.a');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.b');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.c');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.d');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.e');
INSERT INTO "command_keys" VALUES('zoo','zoo','5ERMkhKy_Ak.f');
CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL CHECK (sequence >= 1),
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        metadata TEXT NOT NULL,
        recorded_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        correlation_id TEXT NOT NULL DEFAULT '',
        causation_id TEXT NOT NULL DEFAULT '',
        UNIQUE (aggregate_type, aggregate_id, sequence)
    );
INSERT INTO "events" VALUES(1,'zoo','zoo',1,'Scalars',1,'{"text":"plain","count":0,"ratio":0.0,"flag":false,"nothing":null}','[]','2026-12-07T12:36:26.041+00:00','5ERMkhKy_Ak.1','5ERMkhKy_Ak.1');
INSERT INTO "events" VALUES(2,'zoo','zoo',2,'Scalars',1,'{"text":"ünïcødé ✓   \"quoted\" \\ back\nline\ttab","count":-9223372036854775808,"ratio":-0.5,"flag":true,"nothing":null}','[]','2026-12-07T12:36:26.042+00:00','5ERMkhKy_Ak.2','5ERMkhKy_Ak.2');
INSERT INTO "events" VALUES(3,'zoo','zoo',3,'Scalars',1,'{"text":"","count":1208925819614629174706176,"ratio":1e+16,"flag":false,"nothing":null}','[]','2026-12-07T12:36:26.043+00:00','5ERMkhKy_Ak.3','5ERMkhKy_Ak.3');
INSERT INTO "events" VALUES(4,'zoo','zoo',4,'Scalars',1,'{"text":"tiny","count":7,"ratio":1e-07,"flag":true,"nothing":null}','[]','2026-12-07T12:36:26.044+00:00','5ERMkhKy_Ak.4','5ERMkhKy_Ak.4');
INSERT INTO "events" VALUES(5,'zoo','zoo',5,'Scalars',1,'{"text":"big float","count":-1,"ratio":1.7976931348623157e+308,"flag":false,"nothing":null}','[]','2026-12-07T12:36:26.044+00:00','5ERMkhKy_Ak.5','5ERMkhKy_Ak.5');
INSERT INTO "events" VALUES(6,'zoo','zoo',6,'Scalars',1,'{"text":"int-like float","count":3,"ratio":3.0,"flag":true,"nothing":null}','[]','2026-12-07T12:36:26.045+00:00','5ERMkhKy_Ak.6','5ERMkhKy_Ak.6');
INSERT INTO "events" VALUES(7,'zoo','zoo',7,'Money',1,'{"amount":"1.50","currency":"EUR"}','[]','2026-12-07T12:36:26.045+00:00','5ERMkhKy_Ak.7','5ERMkhKy_Ak.7');
INSERT INTO "events" VALUES(8,'zoo','zoo',8,'Money',1,'{"amount":"-0.00","currency":"USD"}','[]','2026-12-07T12:36:26.045+00:00','5ERMkhKy_Ak.8','5ERMkhKy_Ak.8');
INSERT INTO "events" VALUES(9,'zoo','zoo',9,'Money',1,'{"amount":"1E+2","currency":"EUR"}','[]','2026-12-07T12:36:26.046+00:00','5ERMkhKy_Ak.9','5ERMkhKy_Ak.9');
INSERT INTO "events" VALUES(10,'zoo','zoo',10,'Money',1,'{"amount":"12345678901234567890.123456789","currency":"EUR"}','[]','2026-12-07T12:36:26.046+00:00','5ERMkhKy_Ak.a','5ERMkhKy_Ak.a');
INSERT INTO "events" VALUES(11,'zoo','zoo',11,'Money',1,'{"amount":"0E-10","currency":"EUR"}','[]','2026-12-07T12:36:26.046+00:00','5ERMkhKy_Ak.b','5ERMkhKy_Ak.b');
INSERT INTO "events" VALUES(12,'zoo','zoo',12,'Moments',1,'{"naive":"2026-12-07T13:00:00","aware":"2026-12-07T13:00:00+00:00","day":"0001-01-01"}','[]','2026-12-07T12:36:26.047+00:00','5ERMkhKy_Ak.c','5ERMkhKy_Ak.c');
INSERT INTO "events" VALUES(13,'zoo','zoo',13,'Moments',1,'{"naive":"1999-12-31T23:59:59.999999","aware":"2026-01-02T03:04:05.000600+05:30","day":"9999-12-31"}','[]','2026-12-07T12:36:26.047+00:00','5ERMkhKy_Ak.d','5ERMkhKy_Ak.d');
INSERT INTO "events" VALUES(14,'zoo','zoo',14,'Moments',1,'{"naive":"2000-02-29T00:00:00","aware":"2000-02-29T12:00:00-03:07:05.000250","day":"2000-02-29"}','[]','2026-12-07T12:36:26.047+00:00','5ERMkhKy_Ak.e','5ERMkhKy_Ak.e');
INSERT INTO "events" VALUES(15,'zoo','zoo',15,'Identified',1,'{"id":"12345678-1234-5678-1234-567812345678","raw":"","color":"red","level":1,"sku":"a","mode":"on"}','[]','2026-12-07T12:36:26.047+00:00','5ERMkhKy_Ak.f','5ERMkhKy_Ak.f');
INSERT INTO "events" VALUES(16,'zoo','zoo',16,'Identified',1,'{"id":"00000000-0000-0000-0000-000000000000","raw":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==","color":"green","level":2,"sku":"ß-1","mode":0}','[]','2026-12-07T12:36:26.048+00:00','5ERMkhKy_Ak.10','5ERMkhKy_Ak.10');
INSERT INTO "events" VALUES(17,'zoo','zoo',17,'Identified',1,'{"id":"ffffffff-ffff-ffff-ffff-ffffffffffff","raw":"AA==","color":"red","level":2,"sku":"","mode":true}','[]','2026-12-07T12:36:26.048+00:00','5ERMkhKy_Ak.11','5ERMkhKy_Ak.11');
INSERT INTO "events" VALUES(18,'zoo','zoo',18,'Identified',1,'{"id":"00000000-0000-0000-0000-000000000001","raw":"eHl6","color":"green","level":1,"sku":"n","mode":null}','[]','2026-12-07T12:36:26.048+00:00','5ERMkhKy_Ak.12','5ERMkhKy_Ak.12');
INSERT INTO "events" VALUES(19,'zoo','zoo',19,'Order',1,'{"lines":[{"sku":"a","price":{"amount":"2.00","currency":"EUR"},"color":"red"},{"sku":"b","price":{"amount":"3","currency":"EUR"},"color":null}],"by_sku":{"a":{"sku":"a","price":{"amount":"2.00","currency":"USD"},"color":null},"":{"sku":"","price":{"amount":"0","currency":"EUR"},"color":null}},"pair":["x",2.5],"totals":["5.00","-1"],"payment":{"Card":{"number":"4242","expires":"2030-01-31"}},"payments":[{"Cash":{"amount":"1"}},{"Card":{"number":"1","expires":"2031-05-01"}}],"note":"leave at the door","tags":["gift","fragile"]}','[]','2026-12-07T12:36:26.049+00:00','5ERMkhKy_Ak.13','5ERMkhKy_Ak.13');
INSERT INTO "events" VALUES(20,'zoo','zoo',20,'Order',1,'{"lines":[],"by_sku":{},"pair":["",-0.0],"totals":[],"payment":null,"payments":[],"note":null,"tags":[]}','[]','2026-12-07T12:36:26.049+00:00','5ERMkhKy_Ak.14','5ERMkhKy_Ak.14');
INSERT INTO "events" VALUES(21,'zoo','zoo',21,'Order',1,'{"lines":[],"by_sku":{},"pair":["y",1.0],"totals":[],"payment":{"Cash":{"amount":"9.99"}},"payments":[],"note":null,"tags":[]}','[]','2026-12-07T12:36:26.049+00:00','5ERMkhKy_Ak.15','5ERMkhKy_Ak.15');
INSERT INTO "events" VALUES(22,'zoo','zoo',22,'Unions',1,'{"number":{"int":1},"text_like":{"str":"text"},"anything":null,"choice":{"Literal":"a"}}','[]','2026-12-07T12:36:26.050+00:00','5ERMkhKy_Ak.16','5ERMkhKy_Ak.16');
INSERT INTO "events" VALUES(23,'zoo','zoo',23,'Unions',1,'{"number":{"float":1.5},"text_like":{"datetime":"2026-01-01T00:00:00+00:00"},"anything":{"int":5},"choice":{"Color":"red"}}','[]','2026-12-07T12:36:26.050+00:00','5ERMkhKy_Ak.17','5ERMkhKy_Ak.17');
INSERT INTO "events" VALUES(24,'zoo','zoo',24,'Unions',1,'{"number":{"int":2},"text_like":{"date":"2026-01-01"},"anything":{"str":"five"},"choice":{"Level":2}}','[]','2026-12-07T12:36:26.050+00:00','5ERMkhKy_Ak.18','5ERMkhKy_Ak.18');
INSERT INTO "events" VALUES(25,'zoo','zoo',25,'Unions',1,'{"number":{"float":-0.0},"text_like":{"Decimal":"0.1"},"anything":{"bool":true},"choice":{"Literal":"b"}}','[]','2026-12-07T12:36:26.051+00:00','5ERMkhKy_Ak.19','5ERMkhKy_Ak.19');
INSERT INTO "events" VALUES(26,'zoo','zoo',26,'Unions',1,'{"number":{"int":1000000000000000000000000000000},"text_like":{"UUID":"00000000-0000-0000-0000-00000000002a"},"anything":{"list":[1,2,3]},"choice":{"Level":1}}','[]','2026-12-07T12:36:26.051+00:00','5ERMkhKy_Ak.1a','5ERMkhKy_Ak.1a');
INSERT INTO "events" VALUES(27,'zoo','zoo',27,'Unions',1,'{"number":{"int":0},"text_like":{"str":""},"anything":{"dict":{"k":"v","":""}},"choice":{"Color":"green"}}','[]','2026-12-07T12:36:26.051+00:00','5ERMkhKy_Ak.1b','5ERMkhKy_Ak.1b');
INSERT INTO "events" VALUES(28,'zoo','zoo',28,'Unions',1,'{"number":{"float":0.1},"text_like":{"datetime":"2026-01-01T00:00:00"},"anything":{"list":[]},"choice":{"Literal":"a"}}','[]','2026-12-07T12:36:26.052+00:00','5ERMkhKy_Ak.1c','5ERMkhKy_Ak.1c');
INSERT INTO "events" VALUES(29,'zoo','zoo',29,'Tree',1,'{"label":"root","children":[{"label":"left","children":[]},{"label":"right","children":[{"label":"leaf","children":[]}]}]}','[]','2026-12-07T12:36:26.052+00:00','5ERMkhKy_Ak.1d','5ERMkhKy_Ak.1d');
INSERT INTO "events" VALUES(30,'zoo','zoo',30,'Tree',1,'{"label":"alone","children":[]}','[]','2026-12-07T12:36:26.052+00:00','5ERMkhKy_Ak.1e','5ERMkhKy_Ak.1e');
INSERT INTO "events" VALUES(31,'zoo','zoo',31,'Derived',1,'{"base":21}','[]','2026-12-07T12:36:26.053+00:00','5ERMkhKy_Ak.1f','5ERMkhKy_Ak.1f');
INSERT INTO "events" VALUES(32,'zoo','zoo',32,'renamed_event',1,'{"value":"stored under another name"}','[]','2026-12-07T12:36:26.053+00:00','5ERMkhKy_Ak.20','5ERMkhKy_Ak.20');
CREATE TABLE process_manager_instances (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        instance TEXT NOT NULL,
        state_type TEXT NOT NULL,
        state_version INTEGER NOT NULL,
        state TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        PRIMARY KEY (scope, name, instance)
    ) WITHOUT ROWID
    ;
CREATE TABLE process_manager_outbox (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        instance TEXT NOT NULL,
        target TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        command_type TEXT NOT NULL,
        command_version INTEGER NOT NULL,
        command TEXT NOT NULL,
        command_key TEXT NOT NULL,
        correlation_id TEXT NOT NULL,
        causation_id TEXT NOT NULL,
        PRIMARY KEY (scope, name, sequence)
    ) WITHOUT ROWID
    ;
CREATE TABLE process_manager_positions (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL CHECK (position >= 0),
        updated_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        PRIMARY KEY (scope, name)
    ) WITHOUT ROWID
    ;
CREATE TABLE process_manager_timers (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        instance TEXT NOT NULL,
        timer TEXT NOT NULL,
        due REAL NOT NULL,
        set_by TEXT NOT NULL,
        PRIMARY KEY (scope, name, instance, timer)
    ) WITHOUT ROWID
    ;
CREATE TABLE projection_checkpoints (
        aggregate_type TEXT NOT NULL,
        name TEXT NOT NULL,
        position INTEGER NOT NULL CHECK (position >= 0),
        reset_pending INTEGER NOT NULL DEFAULT 0 CHECK (reset_pending IN (0, 1)),
        updated_at TEXT NOT NULL
            DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        PRIMARY KEY (aggregate_type, name)
    ) WITHOUT ROWID
    ;
CREATE TABLE projection_dead_letters (
        id INTEGER PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        projection TEXT NOT NULL,
        position INTEGER NOT NULL,
        aggregate_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        error TEXT NOT NULL,
        recorded_at TEXT NOT NULL
    );
CREATE TABLE snapshots (
        aggregate_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        entity_type TEXT NOT NULL,
        entity_version INTEGER NOT NULL,
        payload TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        PRIMARY KEY (aggregate_type, aggregate_id)
    ) WITHOUT ROWID
    ;
INSERT INTO "snapshots" VALUES('zoo','zoo',30,'Album',1,'{"items":[{"Scalars":{"text":"plain","count":0,"ratio":0.0,"flag":false,"nothing":null}},{"Scalars":{"text":"ünïcødé ✓   \"quoted\" \\ back\nline\ttab","count":-9223372036854775808,"ratio":-0.5,"flag":true,"nothing":null}},{"Scalars":{"text":"","count":1208925819614629174706176,"ratio":1e+16,"flag":false,"nothing":null}},{"Scalars":{"text":"tiny","count":7,"ratio":1e-07,"flag":true,"nothing":null}},{"Scalars":{"text":"big float","count":-1,"ratio":1.7976931348623157e+308,"flag":false,"nothing":null}},{"Scalars":{"text":"int-like float","count":3,"ratio":3.0,"flag":true,"nothing":null}},{"Money":{"amount":"1.50","currency":"EUR"}},{"Money":{"amount":"-0.00","currency":"USD"}},{"Money":{"amount":"1E+2","currency":"EUR"}},{"Money":{"amount":"12345678901234567890.123456789","currency":"EUR"}},{"Money":{"amount":"0E-10","currency":"EUR"}},{"Moments":{"naive":"2026-12-07T13:00:00","aware":"2026-12-07T13:00:00+00:00","day":"0001-01-01"}},{"Moments":{"naive":"1999-12-31T23:59:59.999999","aware":"2026-01-02T03:04:05.000600+05:30","day":"9999-12-31"}},{"Moments":{"naive":"2000-02-29T00:00:00","aware":"2000-02-29T12:00:00-03:07:05.000250","day":"2000-02-29"}},{"Identified":{"id":"12345678-1234-5678-1234-567812345678","raw":"","color":"red","level":1,"sku":"a","mode":"on"}},{"Identified":{"id":"00000000-0000-0000-0000-000000000000","raw":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==","color":"green","level":2,"sku":"ß-1","mode":0}},{"Identified":{"id":"ffffffff-ffff-ffff-ffff-ffffffffffff","raw":"AA==","color":"red","level":2,"sku":"","mode":true}},{"Identified":{"id":"00000000-0000-0000-0000-000000000001","raw":"eHl6","color":"green","level":1,"sku":"n","mode":null}},{"Order":{"lines":[{"sku":"a","price":{"amount":"2.00","currency":"EUR"},"color":"red"},{"sku":"b","price":{"amount":"3","currency":"EUR"},"color":null}],"by_sku":{"a":{"sku":"a","price":{"amount":"2.00","currency":"USD"},"color":null},"":{"sku":"","price":{"amount":"0","currency":"EUR"},"color":null}},"pair":["x",2.5],"totals":["5.00","-1"],"payment":{"Card":{"number":"4242","expires":"2030-01-31"}},"payments":[{"Cash":{"amount":"1"}},{"Card":{"number":"1","expires":"2031-05-01"}}],"note":"leave at the door","tags":["gift","fragile"]}},{"Order":{"lines":[],"by_sku":{},"pair":["",-0.0],"totals":[],"payment":null,"payments":[],"note":null,"tags":[]}},{"Order":{"lines":[],"by_sku":{},"pair":["y",1.0],"totals":[],"payment":{"Cash":{"amount":"9.99"}},"payments":[],"note":null,"tags":[]}},{"Unions":{"number":{"int":1},"text_like":{"str":"text"},"anything":null,"choice":{"Literal":"a"}}},{"Unions":{"number":{"float":1.5},"text_like":{"datetime":"2026-01-01T00:00:00+00:00"},"anything":{"int":5},"choice":{"Color":"red"}}},{"Unions":{"number":{"int":2},"text_like":{"date":"2026-01-01"},"anything":{"str":"five"},"choice":{"Level":2}}},{"Unions":{"number":{"float":-0.0},"text_like":{"Decimal":"0.1"},"anything":{"bool":true},"choice":{"Literal":"b"}}},{"Unions":{"number":{"int":1000000000000000000000000000000},"text_like":{"UUID":"00000000-0000-0000-0000-00000000002a"},"anything":{"list":[1,2,3]},"choice":{"Level":1}}},{"Unions":{"number":{"int":0},"text_like":{"str":""},"anything":{"dict":{"k":"v","":""}},"choice":{"Color":"green"}}},{"Unions":{"number":{"float":0.1},"text_like":{"datetime":"2026-01-01T00:00:00"},"anything":{"list":[]},"choice":{"Literal":"a"}}},{"Tree":{"label":"root","children":[{"label":"left","children":[]},{"label":"right","children":[{"label":"leaf","children":[]}]}]}},{"Tree":{"label":"alone","children":[]}}]}','2026-12-07T12:36:26.052583+00:00');
CREATE INDEX projection_dead_letters_by_projection
        ON projection_dead_letters (aggregate_type, projection, position)
    ;
COMMIT;
PRAGMA application_id = 1416774995;
PRAGMA user_version = 6;
