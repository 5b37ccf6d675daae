/* mock.h: the mock backend's face for tests (the backend itself is reached
 * through backend_open("mock", ...) like any other). */
#ifndef ZL_BACKEND_MOCK_H
#define ZL_BACKEND_MOCK_H

#include "backends/backend.h"

/* ---- the mock backend (tests of the reconciler only) ----
 * Fake containers persist as files under <root>/mock/<id> so separate zlapply
 * runs see them. Faults for tests:
 *   - env ZLAPPLY_MOCK_DELAY_MS=N: every create and start sleeps N ms first;
 *   - env ZLAPPLY_MOCK_FAIL="op:id[,op:id...]" (op create|start|stop|remove,
 *     id a backend id or "*"): that operation fails;
 *   - backend_mock_set_exit(): a running fake replica exits with a code;
 *   - env ZLAPPLY_MOCK_PULL=1: the mock asks for images like a real backend,
 *     so apply's pull path can be tested without running containers. */
int backend_mock_set_exit(const char *root, const char *id, int exit_code, int exit_signal,
			  struct zl_err *err);

#endif
