/*
 * seed.h — seeding a device home with head-office data through the
 * head-office path, for tests that run without a server: the device's rows
 * go to a head-office home (<home>.hq, kept between calls so its site id
 * stays the same), the CSV files are imported there as `fieldsync-server
 * import` does, and the head-office changes are merged into the device as a
 * pull would.  Never a device write.
 */
#ifndef FS_SEED_H
#define FS_SEED_H

/* CSV file paths; any may be NULL.  Returns FS_OK or the library's error. */
int tu_seed_catalog(const char *home, const char *products_csv, const char *prices_csv,
                    const char *balances_csv);

/* Head office's norms for `manager` ("*": the default), each value -1 to
 * leave it as it is (fs_hq_norms_set), sent down to the device as a pull
 * would.  The device's customers go to head office first, so a manager
 * with a customer is known there. */
int tu_seed_norms(const char *home, const char *manager, long long calls, long long meetings,
                  long long proposals);

#endif
