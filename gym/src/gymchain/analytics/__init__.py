"""The analytics service: report and retraining job intake now; churn, segmentation, demand and plan
recommendation models arrive with issue "gymchain, part 2"."""
