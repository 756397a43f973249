/* The tuning cache of kernel choices (see nchwc_tune.h): a process-wide table behind a mutex,
 * loaded from SINTER_TUNE_FILE on first use. A line that does not parse is skipped: the file is a
 * cache, and a broken one only costs timing again. */
#include "ops/nchwc_tune.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

#define KEY_MAX 200

typedef struct tune_entry {
  char key[KEY_MAX];
  int choice;
} tune_entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static tune_entry *table;
static int n_table, cap_table;
static bool loaded;

static const char *tune_file(void) {
  const char *f = getenv("SINTER_TUNE_FILE");
  return f && *f ? f : NULL;
}

bool sn_tune_enabled(void) {
  const char *e = getenv("SINTER_TUNE");
  return (e && e[0] == '1') || tune_file();
}

static tune_entry *find(const char *key) {
  for (int i = 0; i < n_table; i++)
    if (!strcmp(table[i].key, key)) return &table[i];
  return NULL;
}

static void put(const char *key, int choice) {
  tune_entry *e = find(key);
  if (e) {
    e->choice = choice;
    return;
  }
  if (n_table == cap_table) {
    int cap = cap_table ? 2 * cap_table : 32;
    tune_entry *t = sn_realloc(table, sizeof *t * (size_t)cap);
    if (!t) return; /* (out of memory: the choice is simply not remembered) */
    table = t, cap_table = cap;
  }
  snprintf(table[n_table].key, KEY_MAX, "%s", key);
  table[n_table++].choice = choice;
}

static void load(void) {
  loaded = true;
  const char *path = tune_file();
  FILE *f = path ? fopen(path, "r") : NULL;
  if (!f) return;
  char line[KEY_MAX + 16];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if ((line[0] == '0' || line[0] == '1') && line[1] == ' ' && line[2]) put(line + 2, line[0] - '0');
  }
  fclose(f);
}

int sn_tune_lookup(const char *key) {
  pthread_mutex_lock(&mu);
  if (!loaded) load();
  tune_entry *e = find(key);
  int r = e ? e->choice : -1;
  pthread_mutex_unlock(&mu);
  return r;
}

void sn_tune_store(const char *key, int choice) {
  if (strlen(key) >= KEY_MAX || (choice != 0 && choice != 1)) return;
  pthread_mutex_lock(&mu);
  if (!loaded) load();
  put(key, choice);
  const char *path = tune_file();
  FILE *f = path ? fopen(path, "a+") : NULL;
  if (f) {
    /* a last line without its newline (a write cut short) must not swallow this one */
    bool nl = true;
    if (!fseek(f, -1, SEEK_END)) nl = fgetc(f) == '\n';
    fseek(f, 0, SEEK_END);
    fprintf(f, "%s%d %s\n", nl ? "" : "\n", choice, key);
    fclose(f);
  }
  pthread_mutex_unlock(&mu);
}
