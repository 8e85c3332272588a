"""The Ads Manager's pages of one advertiser account, under /a/<advertiser_id>/."""

from campaigns.views import ad_groups, campaigns, conversions, creatives, history

urlpatterns = [
    *campaigns.urlpatterns,
    *ad_groups.urlpatterns,
    *creatives.urlpatterns,
    *conversions.urlpatterns,
    *history.urlpatterns,
]
