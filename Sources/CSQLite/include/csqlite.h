#ifndef JM_CSQLITE_H
#define JM_CSQLITE_H

typedef struct sqlite3 sqlite3;

/// sqlite3_db_config is variadic, which Swift cannot call: SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE.
int jm_sqlite_no_checkpoint_on_close(sqlite3 *db);

#endif
