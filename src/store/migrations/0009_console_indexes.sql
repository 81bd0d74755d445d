-- The console's work list pages newest first within an account and status, and the audit log
-- is read by subject (an exception's trail) and by actor: indexes so a page costs the same at
-- 100 lines and at 100,000.
CREATE INDEX exceptions_page ON exceptions (account_no, status, id);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
