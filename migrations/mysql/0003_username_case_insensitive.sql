-- Usernames are unique regardless of case: "Alice" and "alice" are one
-- user, so nobody can register a look-alike of someone else's name, and a
-- login as "ALICE" lands on the account "alice" created. The column's
-- collation becomes case-insensitive, so the unique key and every lookup
-- by username (WHERE username = ?) ignore case; the spelling stored is the
-- one the user was created with. Usernames are limited to A-Z a-z 0-9 _ . -
-- (users_name_valid), for which utf8mb4_general_ci only folds case.
--
-- Existing data with two users whose names differ only in case: this
-- ALTER stops with a duplicate-key error (1062) naming one of the names,
-- nothing is changed, the migration is not recorded and migrate exits
-- non-zero. List the clashes with
--   SELECT LOWER(username), GROUP_CONCAT(id) FROM users
--   GROUP BY LOWER(username) HAVING COUNT(*) > 1;
-- rename all but one user of each group, then run migrate again.
ALTER TABLE users
    MODIFY username VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL;
