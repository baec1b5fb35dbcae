// From the options of a PUT body to the canonical unit (its record is registry/unit-views.ts's
// unitRecord), with the validation of `api.ValidateOptions` turned into 400s carrying the
// original's messages.
import { describeUnitOptions, type DescribedUnit } from "../unit/describe-unit.ts";
import { RequirementsError } from "../unit/requirements.ts";
import type { UnitOption } from "../unit/types.ts";
import { UnitFileError } from "../unit/unit-file.ts";
import { UnitNameError } from "../unit/unit-name.ts";
import { ApiError } from "./errors.ts";

/** The canonical unit for these options, or a 400 naming the first problem. */
export function describeForApi(name: string, options: readonly UnitOption[]): DescribedUnit {
  try {
    return describeUnitOptions(name, options);
  } catch (err) {
    if (err instanceof UnitFileError || err instanceof UnitNameError) throw new ApiError(400, err.reason);
    if (err instanceof RequirementsError) throw new ApiError(400, err.message);
    throw err;
  }
}
