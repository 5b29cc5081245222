import { graphql } from "@/gql";

// A charge's properties, every field: what the plan page shows, the plan editor edits and the plan-change panel
// starts its own prices from (each document spreads ...ChargePropertiesFields).
export const ChargePropertiesFields = graphql(`
  fragment ChargePropertiesFields on ChargeProperties {
    amount
    packageSize
    freeUnits
    rate
    fixedAmount
    freeUnitsPerEvents
    freeUnitsPerTotalAggregation
    perTransactionMinAmount
    perTransactionMaxAmount
    graduatedRanges {
      fromValue
      toValue
      perUnitAmount
      flatAmount
    }
    volumeRanges {
      fromValue
      toValue
      perUnitAmount
      flatAmount
    }
    graduatedPercentageRanges {
      fromValue
      toValue
      rate
      flatAmount
    }
  }
`);
