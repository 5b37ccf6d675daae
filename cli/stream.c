/* stream.c: what the verbs that print until interrupted share (events -f,
 * stats): a stop flag SIGINT and SIGTERM set, so they end with exit 0, and
 * JSON lists printed either as one array or as one object per line. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int signo)
{
	(void)signo;
	stop_requested = 1;
}

void cli_stop_on_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: sleeps end */
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL); /* cannot fail for these signals */
	(void)sigaction(SIGTERM, &sa, NULL);
}

bool cli_stop_requested(void)
{
	return stop_requested != 0;
}

void cli_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	(void)nanosleep(&ts, NULL); /* a signal cuts it short: the callers check why */
}

void output_json_emit(cJSON *item, cJSON *array)
{
	if (array) {
		cJSON_AddItemToArray(array, item);
		return;
	}
	char *text = cJSON_PrintUnformatted(item);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(item);
}
