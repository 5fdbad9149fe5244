-- Users who sign in through an identity provider: the provider names them
-- by an issuer ("iss") and a subject (the claim jwt_identity_claim, "sub"
-- by default), which stay with the provider; the row in users is ours and
-- its integer id is never something the provider or a client must know.
-- The first valid token of a new (issuer, subject) creates the user and
-- this row in one transaction; later tokens find the user through the
-- primary key. Subjects compare byte for byte (utf8mb4_bin): providers
-- treat them as opaque, case included. One user has at most one identity
-- per issuer, and users made by dev login or chatctl have none.
CREATE TABLE user_identities (
    issuer     VARCHAR(255) NOT NULL,
    subject    VARCHAR(255) NOT NULL,
    user_id    BIGINT NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (issuer, subject),
    UNIQUE KEY uq_user_identities_user (user_id, issuer),
    CONSTRAINT fk_user_identities_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
