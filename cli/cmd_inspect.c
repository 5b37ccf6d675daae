/* cmd_inspect.c: `zlapply inspect REPLICA [-d NAME] [-o json]`: everything
 * known about one replica (reconcile/inspect.c). -o json prints the object
 * as it is; text prints the same keys as an indented outline: scalars as
 * "key: value", objects as nested blocks, lists of scalars on one line and
 * lists of objects one compact JSON object a line. */
#include "cli.h"

#include <cjson/cJSON.h>

static void print_scalar(const cJSON *v)
{
	if (cJSON_IsString(v))
		printf("%s", v->valuestring);
	else if (cJSON_IsNull(v))
		printf("-");
	else {
		char *text = cJSON_PrintUnformatted(v);
		printf("%s", text);
		free(text);
	}
}

static bool is_scalar(const cJSON *v)
{
	return !cJSON_IsObject(v) && !cJSON_IsArray(v);
}

static bool all_scalars(const cJSON *array)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, array)
		if (!is_scalar(it))
			return false;
	return true;
}

static void print_outline(const cJSON *obj, int depth)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, obj)
	{
		printf("%*s%s:", depth * 2, "", v->string ? v->string : "-");
		if (is_scalar(v)) {
			printf(" ");
			print_scalar(v);
			printf("\n");
		} else if (cJSON_IsObject(v)) {
			printf(cJSON_GetArraySize(v) ? "\n" : " -\n");
			print_outline(v, depth + 1);
		} else if (all_scalars(v)) {
			const cJSON *it;
			const char *sep = " ";
			cJSON_ArrayForEach(it, v)
			{
				printf("%s", sep);
				print_scalar(it);
				sep = ", ";
			}
			printf(cJSON_GetArraySize(v) ? "\n" : " -\n");
		} else {
			printf("\n");
			const cJSON *it;
			cJSON_ArrayForEach(it, v)
			{
				char *text = cJSON_PrintUnformatted(it);
				printf("%*s- %s\n", depth * 2 + 2, "", text);
				free(text);
			}
		}
	}
}

int cmd_inspect(const struct cli_opts *o)
{
	struct zl_err err = ZL_ERR_INIT;
	struct reconcile_opts ropts;
	cli_base_opts(o, &ropts);
	char *json = NULL;
	if (reconcile_inspect(&ropts, o->args[0], o->name_count ? o->names[0] : NULL, &json, &err) < 0)
		return cli_fail(&err);
	if (o->output == CLI_OUTPUT_JSON) {
		printf("%s\n", json);
	} else {
		cJSON *doc = cJSON_Parse(json);
		print_outline(doc, 0);
		cJSON_Delete(doc);
	}
	free(json);
	return 0;
}
