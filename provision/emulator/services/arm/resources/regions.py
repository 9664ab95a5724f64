"""Azure regions as `GET /subscriptions/{id}/locations` lists them: name, display names and metadata.

Observed in the Azure CLI recording test_account_show.yaml (az account list-locations, api-version 2019-11-01,
recorded 2022-01; Azure/azure-cli, src/azure-cli/azure/cli/command_modules/profile/tests/latest/recordings/).
Columns: name, displayName, regionalDisplayName, regionType, regionCategory, geographyGroup, longitude, latitude,
physicalLocation, paired regions (None: the key was absent)."""

from __future__ import annotations

from typing import Any

LOCATIONS: list[tuple] = [
    ('eastus', 'East US', '(US) East US', 'Physical', 'Recommended', 'US', '-79.8164', '37.3719', 'Virginia', ['westus']),
    ('eastus2', 'East US 2', '(US) East US 2', 'Physical', 'Recommended', 'US', '-78.3889', '36.6681', 'Virginia', ['centralus']),
    ('southcentralus', 'South Central US', '(US) South Central US', 'Physical', 'Recommended', 'US', '-98.5', '29.4167', 'Texas', ['northcentralus']),
    ('westus2', 'West US 2', '(US) West US 2', 'Physical', 'Recommended', 'US', '-119.852', '47.233', 'Washington', ['westcentralus']),
    ('westus3', 'West US 3', '(US) West US 3', 'Physical', 'Recommended', 'US', '-112.074036', '33.448376', 'Phoenix', ['eastus']),
    ('australiaeast', 'Australia East', '(Asia Pacific) Australia East', 'Physical', 'Recommended', 'Asia Pacific', '151.2094', '-33.86', 'New South Wales', ['australiasoutheast']),
    ('southeastasia', 'Southeast Asia', '(Asia Pacific) Southeast Asia', 'Physical', 'Recommended', 'Asia Pacific', '103.833', '1.283', 'Singapore', ['eastasia']),
    ('northeurope', 'North Europe', '(Europe) North Europe', 'Physical', 'Recommended', 'Europe', '-6.2597', '53.3478', 'Ireland', ['westeurope']),
    ('swedencentral', 'Sweden Central', '(Europe) Sweden Central', 'Physical', 'Recommended', 'Europe', '17.14127', '60.67488', 'Gävle', ['swedensouth']),
    ('uksouth', 'UK South', '(Europe) UK South', 'Physical', 'Recommended', 'Europe', '-0.799', '50.941', 'London', ['ukwest']),
    ('westeurope', 'West Europe', '(Europe) West Europe', 'Physical', 'Recommended', 'Europe', '4.9', '52.3667', 'Netherlands', ['northeurope']),
    ('centralus', 'Central US', '(US) Central US', 'Physical', 'Recommended', 'US', '-93.6208', '41.5908', 'Iowa', ['eastus2']),
    ('northcentralus', 'North Central US', '(US) North Central US', 'Physical', 'Recommended', 'US', '-87.6278', '41.8819', 'Illinois', ['southcentralus']),
    ('westus', 'West US', '(US) West US', 'Physical', 'Recommended', 'US', '-122.417', '37.783', 'California', ['eastus']),
    ('southafricanorth', 'South Africa North', '(Africa) South Africa North', 'Physical', 'Recommended', 'Africa', '28.218370', '-25.731340', 'Johannesburg', ['southafricawest']),
    ('centralindia', 'Central India', '(Asia Pacific) Central India', 'Physical', 'Recommended', 'Asia Pacific', '73.9197', '18.5822', 'Pune', ['southindia']),
    ('eastasia', 'East Asia', '(Asia Pacific) East Asia', 'Physical', 'Recommended', 'Asia Pacific', '114.188', '22.267', 'Hong Kong', ['southeastasia']),
    ('japaneast', 'Japan East', '(Asia Pacific) Japan East', 'Physical', 'Recommended', 'Asia Pacific', '139.77', '35.68', 'Tokyo, Saitama', ['japanwest']),
    ('jioindiawest', 'Jio India West', '(Asia Pacific) Jio India West', 'Physical', 'Recommended', 'Asia Pacific', '70.05773', '22.470701', 'Jamnagar', ['jioindiacentral']),
    ('koreacentral', 'Korea Central', '(Asia Pacific) Korea Central', 'Physical', 'Recommended', 'Asia Pacific', '126.9780', '37.5665', 'Seoul', ['koreasouth']),
    ('canadacentral', 'Canada Central', '(Canada) Canada Central', 'Physical', 'Recommended', 'Canada', '-79.383', '43.653', 'Toronto', ['canadaeast']),
    ('francecentral', 'France Central', '(Europe) France Central', 'Physical', 'Recommended', 'Europe', '2.3730', '46.3772', 'Paris', ['francesouth']),
    ('germanywestcentral', 'Germany West Central', '(Europe) Germany West Central', 'Physical', 'Recommended', 'Europe', '8.682127', '50.110924', 'Frankfurt', ['germanynorth']),
    ('norwayeast', 'Norway East', '(Europe) Norway East', 'Physical', 'Recommended', 'Europe', '10.752245', '59.913868', 'Norway', ['norwaywest']),
    ('switzerlandnorth', 'Switzerland North', '(Europe) Switzerland North', 'Physical', 'Recommended', 'Europe', '8.564572', '47.451542', 'Zurich', ['switzerlandwest']),
    ('uaenorth', 'UAE North', '(Middle East) UAE North', 'Physical', 'Recommended', 'Middle East', '55.316666', '25.266666', 'Dubai', ['uaecentral']),
    ('brazilsouth', 'Brazil South', '(South America) Brazil South', 'Physical', 'Recommended', 'South America', '-46.633', '-23.55', 'Sao Paulo State', ['southcentralus']),
    ('centralusstage', 'Central US (Stage)', '(US) Central US (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('eastusstage', 'East US (Stage)', '(US) East US (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('eastus2stage', 'East US 2 (Stage)', '(US) East US 2 (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('northcentralusstage', 'North Central US (Stage)', '(US) North Central US (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('southcentralusstage', 'South Central US (Stage)', '(US) South Central US (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('westusstage', 'West US (Stage)', '(US) West US (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('westus2stage', 'West US 2 (Stage)', '(US) West US 2 (Stage)', 'Logical', 'Other', 'US', None, None, None, []),
    ('asia', 'Asia', 'Asia', 'Logical', 'Other', None, None, None, None, []),
    ('asiapacific', 'Asia Pacific', 'Asia Pacific', 'Logical', 'Other', None, None, None, None, []),
    ('australia', 'Australia', 'Australia', 'Logical', 'Other', None, None, None, None, []),
    ('brazil', 'Brazil', 'Brazil', 'Logical', 'Other', None, None, None, None, []),
    ('canada', 'Canada', 'Canada', 'Logical', 'Other', None, None, None, None, []),
    ('europe', 'Europe', 'Europe', 'Logical', 'Other', None, None, None, None, []),
    ('france', 'France', 'France', 'Logical', 'Other', None, None, None, None, []),
    ('germany', 'Germany', 'Germany', 'Logical', 'Other', None, None, None, None, []),
    ('global', 'Global', 'Global', 'Logical', 'Other', None, None, None, None, []),
    ('india', 'India', 'India', 'Logical', 'Other', None, None, None, None, []),
    ('japan', 'Japan', 'Japan', 'Logical', 'Other', None, None, None, None, []),
    ('korea', 'Korea', 'Korea', 'Logical', 'Other', None, None, None, None, []),
    ('norway', 'Norway', 'Norway', 'Logical', 'Other', None, None, None, None, []),
    ('southafrica', 'South Africa', 'South Africa', 'Logical', 'Other', None, None, None, None, []),
    ('switzerland', 'Switzerland', 'Switzerland', 'Logical', 'Other', None, None, None, None, []),
    ('uae', 'United Arab Emirates', 'United Arab Emirates', 'Logical', 'Other', None, None, None, None, []),
    ('uk', 'United Kingdom', 'United Kingdom', 'Logical', 'Other', None, None, None, None, []),
    ('unitedstates', 'United States', 'United States', 'Logical', 'Other', None, None, None, None, []),
    ('eastasiastage', 'East Asia (Stage)', '(Asia Pacific) East Asia (Stage)', 'Logical', 'Other', 'Asia Pacific', None, None, None, []),
    ('southeastasiastage', 'Southeast Asia (Stage)', '(Asia Pacific) Southeast Asia (Stage)', 'Logical', 'Other', 'Asia Pacific', None, None, None, []),
    ('centraluseuap', 'Central US EUAP', '(US) Central US EUAP', 'Physical', 'Other', 'US', '-93.6208', '41.5908', None, ['eastus2euap']),
    ('eastus2euap', 'East US 2 EUAP', '(US) East US 2 EUAP', 'Physical', 'Other', 'US', '-78.3889', '36.6681', None, ['centraluseuap']),
    ('westcentralus', 'West Central US', '(US) West Central US', 'Physical', 'Other', 'US', '-110.234', '40.890', 'Wyoming', ['westus2']),
    ('southafricawest', 'South Africa West', '(Africa) South Africa West', 'Physical', 'Other', 'Africa', '18.843266', '-34.075691', 'Cape Town', ['southafricanorth']),
    ('australiacentral', 'Australia Central', '(Asia Pacific) Australia Central', 'Physical', 'Other', 'Asia Pacific', '149.1244', '-35.3075', 'Canberra', ['australiacentral']),
    ('australiacentral2', 'Australia Central 2', '(Asia Pacific) Australia Central 2', 'Physical', 'Other', 'Asia Pacific', '149.1244', '-35.3075', 'Canberra', ['australiacentral2']),
    ('australiasoutheast', 'Australia Southeast', '(Asia Pacific) Australia Southeast', 'Physical', 'Other', 'Asia Pacific', '144.9631', '-37.8136', 'Victoria', ['australiaeast']),
    ('japanwest', 'Japan West', '(Asia Pacific) Japan West', 'Physical', 'Other', 'Asia Pacific', '135.5022', '34.6939', 'Osaka', ['japaneast']),
    ('jioindiacentral', 'Jio India Central', '(Asia Pacific) Jio India Central', 'Physical', 'Other', 'Asia Pacific', '79.08886', '21.146633', 'Nagpur', ['jioindiawest']),
    ('koreasouth', 'Korea South', '(Asia Pacific) Korea South', 'Physical', 'Other', 'Asia Pacific', '129.0756', '35.1796', 'Busan', ['koreacentral']),
    ('southindia', 'South India', '(Asia Pacific) South India', 'Physical', 'Other', 'Asia Pacific', '80.1636', '12.9822', 'Chennai', ['centralindia']),
    ('westindia', 'West India', '(Asia Pacific) West India', 'Physical', 'Other', 'Asia Pacific', '72.868', '19.088', 'Mumbai', ['southindia']),
    ('canadaeast', 'Canada East', '(Canada) Canada East', 'Physical', 'Other', 'Canada', '-71.217', '46.817', 'Quebec', ['canadacentral']),
    ('francesouth', 'France South', '(Europe) France South', 'Physical', 'Other', 'Europe', '2.1972', '43.8345', 'Marseille', ['francecentral']),
    ('germanynorth', 'Germany North', '(Europe) Germany North', 'Physical', 'Other', 'Europe', '8.806422', '53.073635', 'Berlin', ['germanywestcentral']),
    ('norwaywest', 'Norway West', '(Europe) Norway West', 'Physical', 'Other', 'Europe', '5.733107', '58.969975', 'Norway', ['norwayeast']),
    ('swedensouth', 'Sweden South', '(Europe) Sweden South', 'Physical', 'Other', 'Europe', '13.0007', '55.6059', 'Malmo', ['swedencentral']),
    ('switzerlandwest', 'Switzerland West', '(Europe) Switzerland West', 'Physical', 'Other', 'Europe', '6.143158', '46.204391', 'Geneva', ['switzerlandnorth']),
    ('ukwest', 'UK West', '(Europe) UK West', 'Physical', 'Other', 'Europe', '-3.084', '53.427', 'Cardiff', ['uksouth']),
    ('uaecentral', 'UAE Central', '(Middle East) UAE Central', 'Physical', 'Other', 'Middle East', '54.366669', '24.466667', 'Abu Dhabi', ['uaenorth']),
    ('brazilsoutheast', 'Brazil Southeast', '(South America) Brazil Southeast', 'Physical', 'Other', 'South America', '-43.2075', '-22.90278', 'Rio', ['brazilsouth']),
    ('eastusslv', 'East US SLV', '(South America) East US SLV', 'Physical', 'Other', 'South America', '-43.2075', '-22.90278', 'Silverstone', ['eastusslv']),
    ('qatarcentral', 'Qatar Central', '(Europe) Qatar Central', 'Physical', 'Other', 'Europe', '51.439327', '25.551462', 'Doha', ['westeurope']),
]


def locations(sub: str) -> list[dict[str, Any]]:
    out = []
    for name, display, regional, rtype, category, geo, lon, lat, physical, paired in LOCATIONS:
        meta: dict[str, Any] = {"regionType": rtype, "regionCategory": category}
        for k, v in (("geographyGroup", geo), ("longitude", lon), ("latitude", lat), ("physicalLocation", physical)):
            if v is not None:
                meta[k] = v
        if paired:
            meta["pairedRegion"] = [{"name": p, "id": f"/subscriptions/{sub}/locations/{p}"} for p in paired]
        item: dict[str, Any] = {"id": f"/subscriptions/{sub}/locations/{name}", "name": name, "displayName": display}
        if regional is not None:
            item["regionalDisplayName"] = regional
        item["metadata"] = meta
        out.append(item)
    return out
