-- The relational half of the chat: users, 1:1 rooms and their members,
-- and the single-use socket tokens (stored as SHA-256 only).

CREATE TABLE users (
    id           BIGINT NOT NULL AUTO_INCREMENT,
    username     VARCHAR(64) NOT NULL,
    display_name VARCHAR(128) NOT NULL,
    created_at   DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One room per unordered pair: user_low < user_high makes (a,b) and (b,a)
-- the same row, and the unique key makes concurrent creates converge.
CREATE TABLE chat_rooms (
    id         BIGINT NOT NULL AUTO_INCREMENT,
    user_low   BIGINT NOT NULL,
    user_high  BIGINT NOT NULL,
    created_by BIGINT NOT NULL,
    name       VARCHAR(128) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY uq_chat_rooms_pair (user_low, user_high),
    KEY ix_chat_rooms_user_high (user_high),
    CONSTRAINT fk_chat_rooms_low FOREIGN KEY (user_low) REFERENCES users (id),
    CONSTRAINT fk_chat_rooms_high FOREIGN KEY (user_high) REFERENCES users (id),
    CONSTRAINT fk_chat_rooms_creator FOREIGN KEY (created_by) REFERENCES users (id),
    CONSTRAINT ck_chat_rooms_order CHECK (user_low < user_high)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE chat_room_members (
    room_id   BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    joined_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (room_id, user_id),
    KEY ix_members_user (user_id),
    CONSTRAINT fk_members_room FOREIGN KEY (room_id) REFERENCES chat_rooms (id) ON DELETE CASCADE,
    CONSTRAINT fk_members_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE socket_tokens (
    token_hash BINARY(32) NOT NULL,
    user_id    BIGINT NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    used_at    DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (token_hash),
    KEY ix_socket_tokens_expires (expires_at),
    CONSTRAINT fk_socket_tokens_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
