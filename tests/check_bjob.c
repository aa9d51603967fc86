/*
 * check_bjob.c -- the file merge of detrun --build (user/bjob), as data.
 *
 * Each case builds a tree and a job's overlayfs upper dir from specs
 * ("path=bytes", "path/" a directory, "path-" a whiteout), records
 * which paths later joins changed, merges, and compares the whole tree
 * with the expected one -- or, on a conflict, with the tree before
 * (joins are atomic) and the path named.  Plus the index against a
 * model, and the hard-link clone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "testutil.h"
#include "../user/bjob/bjob.h"

#define MAXE 8

struct mcase {
	const char *name;
	const char *tree[MAXE];		/* before */
	const char *upper[MAXE];	/* the job's changes */
	const char *later[MAXE];	/* paths changed by joins after snap */
	int conflict;			/* 1: expect a conflict */
	const char *cpath;		/* ... on this path */
	const char *after[MAXE];	/* tree after (no conflict) */
};

static const struct mcase cases[] = {
	{ "new file", { "a=1" }, { "b=2" }, { NULL }, 0, NULL,
	  { "a=1", "b=2" } },
	{ "changed file", { "a=1" }, { "a=22" }, { NULL }, 0, NULL,
	  { "a=22" } },
	{ "deletion", { "a=1", "b=2" }, { "a-" }, { NULL }, 0, NULL,
	  { "b=2" } },
	{ "new dir and file", { "a=1" }, { "d/", "d/x=3" }, { NULL }, 0,
	  NULL, { "a=1", "d/", "d/x=3" } },
	{ "dir deleted", { "d/", "d/x=1", "k=2" }, { "d-" }, { NULL }, 0,
	  NULL, { "k=2" } },
	{ "file in old dir", { "d/", "d/x=1" }, { "d/", "d/y=2" }, { NULL },
	  0, NULL, { "d/", "d/x=1", "d/y=2" } },
	{ "file replaces dir", { "d/", "d/x=1" }, { "d=f" }, { NULL }, 0,
	  NULL, { "d=f" } },
	{ "both changed, different bytes", { "a=later" }, { "a=mine" },
	  { "a" }, 1, "a", { NULL } },
	{ "both changed, same bytes", { "a=same" }, { "a=same" }, { "a" },
	  0, NULL, { "a=same" } },
	{ "both deleted", { "k=1" }, { "a-" }, { "a" }, 0, NULL,
	  { "k=1" } },
	{ "I delete, later job wrote", { "a=later" }, { "a-" }, { "a" }, 1,
	  "a", { NULL } },
	{ "conflict is atomic", { "a=later" }, { "b=new", "a=mine" },
	  { "a" }, 1, "a", { NULL } },
	{ "changed before my fork: no conflict", { "a=old" }, { "a=mine" },
	  { "@a" }, 0, NULL, { "a=mine" } },
	{ "deep path conflict", { "d/", "d/e/", "d/e/f=x" },
	  { "d/", "d/e/", "d/e/f=y" }, { "d/e/f" }, 1, "d/e/f", { NULL } },
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Make one spec entry under dirfd. */
static void
put(int dirfd, const char *spec)
{
	char path[256];
	const char *eq = strchr(spec, '=');
	size_t n = strlen(spec);
	int fd;

	if (eq) {
		snprintf(path, sizeof(path), "%.*s", (int)(eq - spec), spec);
		fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, eq + 1, strlen(eq + 1)),
				 (ssize_t)strlen(eq + 1));
		close(fd);
	} else if (spec[n - 1] == '/') {
		snprintf(path, sizeof(path), "%.*s", (int)(n - 1), spec);
		ck_assert_int_eq(mkdirat(dirfd, path, 0755), 0);
	} else {
		snprintf(path, sizeof(path), "%.*s", (int)(n - 1), spec);
		ck_assert_msg(mknodat(dirfd, path, S_IFCHR | 0600,
				      makedev(0, 0)) == 0,
			      "whiteout %s (needs root)", path);
	}
}

/* Describe the tree under dirfd as sorted "path=bytes" / "path/" lines. */
static void
describe(int dirfd, const char *dir, char *out, size_t len)
{
	struct dirent **ents;
	int n, i;

	n = scandirat(dirfd, *dir ? dir : ".", &ents, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++) {
		char path[600], buf[64] = "";
		struct stat st;
		int fd;

		if (ents[i]->d_name[0] == '.') {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "",
			 ents[i]->d_name);
		free(ents[i]);
		ck_assert_int_eq(fstatat(dirfd, path, &st,
					 AT_SYMLINK_NOFOLLOW), 0);
		if (S_ISDIR(st.st_mode)) {
			snprintf(out + strlen(out), len - strlen(out),
				 "%s/ ", path);
			describe(dirfd, path, out, len);
			continue;
		}
		fd = openat(dirfd, path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_ge(read(fd, buf, sizeof(buf) - 1), 0);
		close(fd);
		snprintf(out + strlen(out), len - strlen(out), "%s=%s ",
			 path, buf);
	}
	free(ents);
}

/* The same description from a spec list. */
static void
expect(const char *const *spec, char *out, size_t len)
{
	int i;

	out[0] = 0;
	for (i = 0; i < MAXE && spec[i]; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s ", spec[i]);
}

START_TEST(test_merge_table)
{
	const struct mcase *c = &cases[_i];
	struct bjob_merge_stats st = { 0 };
	struct timespec epoch = { 1700000000, 0 };
	char root[] = "/tmp/check_bjob.XXXXXX", want[1024], got[1024] = "";
	char cpath[256] = "";
	struct bjob_index *ix = bjob_index_create();
	int tree, state, up, i, other = 0, rc;

	ck_assert_ptr_nonnull(mkdtemp(root));
	state = open(root, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(mkdirat(state, "tree", 0755), 0);
	ck_assert_int_eq(mkdirat(state, "up", 0755), 0);
	tree = openat(state, "tree", O_RDONLY | O_DIRECTORY);
	up = openat(state, "up", O_RDONLY | O_DIRECTORY);
	for (i = 0; i < MAXE && c->tree[i]; i++)
		put(tree, c->tree[i]);
	for (i = 0; i < MAXE && c->upper[i]; i++)
		put(up, c->upper[i]);
	/* "p": changed by join 5 (after our fork at 3); "@p": by join 2 */
	for (i = 0; i < MAXE && c->later[i]; i++)
		ck_assert_int_eq(bjob_index_put(ix, c->later[i] +
						(c->later[i][0] == '@'),
						c->later[i][0] == '@' ? 2 : 5,
						7), 0);
	rc = bjob_merge(tree, state, "up", 3, 6, 9, &epoch, ix, &st, cpath,
			sizeof(cpath), &other);
	ck_assert_msg(rc == c->conflict, "%s: merge returned %d", c->name,
		      rc);
	describe(tree, "", got, sizeof(got));
	if (c->conflict) {
		ck_assert_str_eq(cpath, c->cpath);
		ck_assert_int_eq(other, 7);
		expect(c->tree, want, sizeof(want));
	} else {
		expect(c->after, want, sizeof(want));
	}
	ck_assert_msg(!strcmp(got, want), "%s: tree is '%s', expected '%s'",
		      c->name, got, want);
	close(up);
	close(tree);
	close(state);
	bjob_layer_remove(AT_FDCWD, root);
	bjob_index_destroy(ix);
}
END_TEST

/* Merged files carry the logical mtime: epoch + join ns; index updated. */
START_TEST(test_merge_mtime_index)
{
	struct bjob_merge_stats st = { 0 };
	struct timespec epoch = { 1700000000, 999999999 };
	char root[] = "/tmp/check_bjob.XXXXXX", cpath[64];
	struct bjob_index *ix = bjob_index_create();
	int state, tree, up, other, job;
	struct stat s;

	ck_assert_ptr_nonnull(mkdtemp(root));
	state = open(root, O_RDONLY | O_DIRECTORY);
	mkdirat(state, "tree", 0755);
	mkdirat(state, "up", 0755);
	tree = openat(state, "tree", O_RDONLY | O_DIRECTORY);
	up = openat(state, "up", O_RDONLY | O_DIRECTORY);
	put(up, "f=x");
	ck_assert_int_eq(bjob_merge(tree, state, "up", 0, 4, 2, &epoch, ix,
				    &st, cpath, sizeof(cpath), &other), 0);
	ck_assert_int_eq(fstatat(tree, "f", &s, 0), 0);
	ck_assert_int_eq(s.st_mtim.tv_sec, 1700000001);
	ck_assert_int_eq(s.st_mtim.tv_nsec, 3);
	ck_assert_int_eq(bjob_index_get(ix, "f", &job), 4);
	ck_assert_int_eq(job, 2);
	ck_assert_int_eq(st.files, 1);
	ck_assert_int_eq(st.bytes, 1);
	close(up);
	close(tree);
	close(state);
	bjob_layer_remove(AT_FDCWD, root);
	bjob_index_destroy(ix);
}
END_TEST

/* The index against a model: random puts and gets, growth included. */
START_TEST(test_index_model)
{
	static int model[5000];
	struct bjob_index *ix = bjob_index_create();
	uint64_t seed = test_seed("check_bjob") | 1;
	char key[32];
	int i, k, job;

	memset(model, 0, sizeof(model));
	for (i = 0; i < 20000; i++) {
		k = (int)(test_rand(&seed) % 5000);
		snprintf(key, sizeof(key), "dir/%d.o", k);
		if (test_rand(&seed) % 2) {
			ck_assert_int_eq(bjob_index_put(ix, key, i + 1, k), 0);
			model[k] = i + 1;
		}
		ck_assert_int_eq(bjob_index_get(ix, key, &job), model[k]);
		if (model[k])
			ck_assert_int_eq(job, k);
	}
	bjob_index_destroy(ix);
}
END_TEST

/* A clone is hard links (same inodes), directories with their times. */
START_TEST(test_clone)
{
	char root[] = "/tmp/check_bjob.XXXXXX";
	struct timespec newest = { 0, 0 };
	struct stat a, b;
	int state, tree;

	ck_assert_ptr_nonnull(mkdtemp(root));
	state = open(root, O_RDONLY | O_DIRECTORY);
	mkdirat(state, "tree", 0755);
	tree = openat(state, "tree", O_RDONLY | O_DIRECTORY);
	put(tree, "d/");
	put(tree, "d/f=1");
	ck_assert_int_eq(bjob_layer_clone(tree, state, "b0", &newest), 0);
	ck_assert_int_eq(fstatat(tree, "d/f", &a, 0), 0);
	ck_assert_int_eq(fstatat(state, "b0/d/f", &b, 0), 0);
	ck_assert_int_eq(a.st_ino, b.st_ino);
	ck_assert_int_eq(newest.tv_sec, a.st_mtim.tv_sec);
	ck_assert_int_eq(fstatat(tree, "d", &a, 0), 0);
	ck_assert_int_eq(fstatat(state, "b0/d", &b, 0), 0);
	ck_assert_int_eq(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
	close(tree);
	close(state);
	ck_assert_int_eq(bjob_layer_remove(AT_FDCWD, root), 0);
	ck_assert_int_ne(access(root, F_OK), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("bjob");
	TCase *tc = tcase_create("merge");

	tcase_add_loop_test(tc, test_merge_table, 0, (int)NCASES);
	tcase_add_test(tc, test_merge_mtime_index);
	tcase_add_test(tc, test_index_model);
	tcase_add_test(tc, test_clone);
	suite_add_tcase(s, tc);
	return test_run(s);
}
